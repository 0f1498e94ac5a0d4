// Uploads run directories to a W&B-protocol server on loopback (fake_wandb_server.py) while it
// injects faults, and checks what the server ended up with against the run directory: every
// history line exactly once and in order, the summary equal to summary.json, every file
// byte-identical, the run marked complete — and the API key nowhere it should not be.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dlfcn.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "trainscope/error.h"
#include "trainscope/run/run.h"
#include "trainscope/upload/uploader.h"
#include "upload/fake_server.h"
#include "upload/run_fixture.h"

namespace trainscope::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::string kApiKey = "ts-test-key-0123456789abcdef0123456789abcdef";

class UploadIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = make_temp_dir("upload");
    server_ = std::make_unique<FakeWandbServer>(work_, kApiKey);
    runs_ = work_ + "/runs";
  }
  void TearDown() override {
    server_.reset();
    if (!HasFailure()) remove_tree(work_);
  }

  // Short timeouts and backoffs so that fault cases take milliseconds, not minutes.
  UploadOptions options() const {
    UploadOptions o;
    o.base_url = server_->base_url();
    o.api_key = kApiKey;
    o.entity = "team";
    o.project = "proj";
    o.request_timeout_seconds = 2;
    o.connect_timeout_seconds = 1;
    o.transfer_stall_seconds = 2;
    o.retry.initial_delay_seconds = 0.01;
    o.retry.max_delay_seconds = 0.05;
    o.retry.max_elapsed_seconds = 20;
    o.poll_interval_seconds = 0.02;
    o.max_request_bytes = 4096;  // many small file_stream requests: faults hit mid-history
    return o;
  }

  // What every successful upload must satisfy.
  void expect_uploaded(const std::string& run_dir, int exit_code = 0) {
    const json state = server_->state();
    const auto lines = complete_history_lines(run_dir);
    ASSERT_EQ(state["history"].size(), lines.size());
    for (size_t i = 0; i < lines.size(); ++i) {
      ASSERT_EQ(state["history"][i].get<std::string>(), lines[i]) << "history line " << i;
    }
    EXPECT_TRUE(state["gaps"].empty()) << state["gaps"];
    EXPECT_TRUE(state["conflicts"].empty()) << state["conflicts"];
    EXPECT_TRUE(state["oversize"].empty()) << state["oversize"];
    json summary = json::parse(read_file(run_dir + "/summary.json"));
    if (summary.contains("_runtime"))
      summary["_wandb"] = {{"runtime", int64_t(summary["_runtime"].get<double>())}};
    EXPECT_EQ(state["summary"], summary);
    for (const auto& name : run_file_names(run_dir)) {
      const std::string remote = name == "graph.json" ? "trainscope-graph.json" : name;
      ASSERT_TRUE(state["files"].contains(remote)) << name << " was not uploaded";
      EXPECT_EQ(read_file(server_->store_dir() + "/" + remote), read_file(run_dir + "/" + name))
          << name << " differs";
    }
    EXPECT_EQ(state["put_with_authorization"], 0) << "the API key was sent to a storage URL";
    EXPECT_EQ(state["put_missing_headers"], 0) << "uploadHeaders were not sent with the PUT";
    EXPECT_TRUE(state["complete"].get<bool>());
    EXPECT_EQ(state["exitcode"], exit_code);
    EXPECT_FALSE(tree_contains(run_dir, kApiKey)) << "the API key was written into the run directory";
  }

  static int count_requests(const json& state, const std::string& path_part, long status) {
    int n = 0;
    for (const auto& r : state["requests"])
      if (r["path"].get<std::string>().find(path_part) != std::string::npos && r["status"] == status) ++n;
    return n;
  }

  std::string work_, runs_;
  std::unique_ptr<FakeWandbServer> server_;
};

TEST_F(UploadIntegration, OfflineSyncUploadsEverythingOnce) {
  const auto run = make_run(runs_, "run-a", 120);
  const UploadProgress done = sync_run(run, options(), 0);
  expect_uploaded(run);
  const json state = server_->state();
  EXPECT_EQ(state["resent_lines"], 0);
  EXPECT_EQ(state["history_receipts"], 120);
  ASSERT_EQ(state["upserts"].size(), 1u);
  EXPECT_EQ(state["upserts"][0]["name"], "run-a");
  EXPECT_EQ(state["upserts"][0]["project"], "proj");
  EXPECT_EQ(state["upserts"][0]["entity"], "team");
  json config = state["upserts"][0]["config"];
  ASSERT_TRUE(config.contains("_wandb"));
  config.erase("_wandb");
  EXPECT_EQ(config,
            json::parse(R"({"lr":{"value":0.01},"batch_size":{"value":64},"model":{"value":{"depth":50}}})"));
  EXPECT_TRUE(state["upserts"][0]["inserted"].get<bool>());
  EXPECT_GT(count_requests(state, "file_stream", 200), 5) << "max_request_bytes should split history";
  for (const auto& r : state["requests"])
    if (r["path"].get<std::string>().find("file_stream") != std::string::npos)
      EXPECT_LE(r["bytes"].get<int>(), 4096);
  EXPECT_EQ(done.history_lines_sent, 120);
  EXPECT_EQ(done.files_uploaded, 5);  // media ×2, checkpoint, graph, and the config.yaml made from config.json
  EXPECT_TRUE(done.complete);
  EXPECT_EQ(done.run_path, "team/proj/run-a");

  // The durable state claims exactly what the server acknowledged; a second sync sends no line.
  const json saved = json::parse(read_file(run + "/upload/wandb-state.json"));
  EXPECT_EQ(saved["server_lines"], 120);
  EXPECT_TRUE(saved["complete"].get<bool>());
  sync_run(run, options(), 0);
  EXPECT_EQ(server_->state()["history_receipts"], 120);
  for (const auto& [name, file] : server_->state()["files"].items()) EXPECT_EQ(file["puts"], 1) << name;
}

TEST_F(UploadIntegration, ServerErrorBurstsAreRetried) {
  const auto run = make_run(runs_, "run-500", 80);
  server_->add_faults(json::array({
      {{"path", "/graphql"}, {"action", "status"}, {"status", 500}, {"count", 2}},
      {{"path", "/files/"}, {"action", "status"}, {"status", 503}, {"count", 4}, {"skip", 2}},
      {{"path", "/_upload/"}, {"action", "status"}, {"status", 502}, {"count", 3}},
  }));
  sync_run(run, options(), 0);
  expect_uploaded(run);
  const json state = server_->state();
  EXPECT_EQ(count_requests(state, "/graphql", 500), 2);
  EXPECT_EQ(count_requests(state, "file_stream", 503), 4);
  EXPECT_EQ(count_requests(state, "/_upload/", 502), 3);
  EXPECT_EQ(state["resent_lines"], 0);  // a refused request delivered nothing
}

TEST_F(UploadIntegration, TooManyRequestsWaitsForRetryAfter) {
  const auto run = make_run(runs_, "run-429", 30);
  server_->add_faults(json::array({{{"path", "/files/"}, {"action", "status"}, {"status", 429},
                                    {"retry_after", "1"}, {"count", 1}, {"skip", 1}}}));
  sync_run(run, options(), 0);  // backoff alone would wait ≤ 50 ms
  expect_uploaded(run);
  const json state = server_->state();
  double throttled_at = -1, next_at = -1;
  for (const auto& r : state["requests"]) {
    if (r["status"] == 429) throttled_at = r["t"];
    else if (throttled_at >= 0 && next_at < 0) next_at = r["t"];
  }
  ASSERT_GE(throttled_at, 0);
  ASSERT_GE(next_at, 0);
  EXPECT_GE(next_at - throttled_at, 0.95) << "Retry-After: 1 was not honoured";
}

TEST_F(UploadIntegration, DroppedConnectionsAreRetried) {
  const auto run = make_run(runs_, "run-drop", 60);
  server_->add_faults(json::array({
      {{"path", "/graphql"}, {"action", "drop"}, {"count", 1}},
      {{"path", "/files/"}, {"action", "drop"}, {"count", 3}, {"skip", 1}},
      {{"path", "/_upload/"}, {"action", "drop"}, {"count", 2}},
  }));
  sync_run(run, options(), 0);
  expect_uploaded(run);
  const json state = server_->state();
  int drops = 0;
  for (const auto& r : state["requests"]) drops += r["fault"] == "drop";
  EXPECT_EQ(drops, 6);
  EXPECT_EQ(state["resent_lines"], 0);
}

TEST_F(UploadIntegration, SlowResponsesTimeOutAndResendWithoutDuplicates) {
  const auto run = make_run(runs_, "run-slow", 60);
  UploadOptions o = options();
  o.request_timeout_seconds = 0.4;
  // The server handles these requests but answers after the client gave up: the client must
  // resend at the same offset, and the server's history must still hold each line once.
  server_->add_faults(json::array({
      {{"path", "/files/"}, {"action", "delay"}, {"delay_ms", 1200}, {"count", 2}, {"skip", 2}},
      {{"path", "/graphql"}, {"action", "delay"}, {"delay_ms", 1200}, {"count", 1}},
  }));
  sync_run(run, o, 0);
  expect_uploaded(run);
  EXPECT_GT(server_->state()["resent_lines"].get<int>(), 0) << "the delayed requests were not resent";
}

TEST_F(UploadIntegration, RetriesGiveUpWithAClearErrorAndKeepOnlyAcknowledgedProgress) {
  const auto run = make_run(runs_, "run-down", 60);
  UploadOptions o = options();
  o.retry.max_elapsed_seconds = 0.3;
  server_->add_faults(json::array(
      {{{"path", "/files/"}, {"action", "status"}, {"status", 500}, {"count", 100000}, {"skip", 3}}}));
  try {
    sync_run(run, o, 0);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("still failing"), std::string::npos) << message;
    EXPECT_NE(message.find("trainscope sync"), std::string::npos) << message;
    EXPECT_EQ(message.find(kApiKey), std::string::npos);
  }
  const json state = server_->state();
  const json saved = json::parse(read_file(run + "/upload/wandb-state.json"));
  EXPECT_EQ(saved["server_lines"], state["history"].size()) << "state claims unacknowledged lines";
  EXPECT_FALSE(state["complete"].get<bool>());
  // The run directory is intact: a later sync, once the server is healthy, completes it.
  server_->clear_faults();
  sync_run(run, options(), 0);
  expect_uploaded(run);
}

TEST_F(UploadIntegration, UnauthorizedStopsAtOnceWithoutTheKeyInTheError) {
  const auto run = make_run(runs_, "run-401", 10);
  UploadOptions o = options();
  const std::string wrong_key = "ts-wrong-key-fedcba9876543210fedcba9876543210";
  o.api_key = wrong_key;
  const auto started = std::chrono::steady_clock::now();
  try {
    sync_run(run, o, 0);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("401"), std::string::npos) << message;
    EXPECT_NE(message.find("API key"), std::string::npos) << message;
    EXPECT_EQ(message.find(wrong_key), std::string::npos) << message;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  const json state = server_->state();
  EXPECT_EQ(state["requests"].size(), 1u) << "a 401 must not be retried";
  EXPECT_EQ(state["unauthorized"], 1);
  EXPECT_FALSE(tree_contains(run, wrong_key));
}

TEST_F(UploadIntegration, OversizeLinesAreSkippedAndReported) {
  const auto run = make_run(runs_, "run-big", 20, 1000, /*torn_tail=*/false);
  // Line 20: longer than the line limit used here; it must be reported, not sent.
  append_file(run + "/history.jsonl",
              json{{"_step", 20}, {"blob", std::string(3000, 'b')}}.dump() + "\n" + history_line(21) + "\n");
  UploadOptions o = options();
  o.max_line_bytes = 2000;
  const UploadProgress done = sync_run(run, o, 0);
  auto lines = complete_history_lines(run);
  lines.erase(lines.begin() + 20);
  const json state = server_->state();
  ASSERT_EQ(state["history"].size(), lines.size());
  for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(state["history"][i], lines[i]) << i;
  EXPECT_EQ(done.history_lines_dropped, 1);
  ASSERT_EQ(done.warnings.size(), 1u);
  EXPECT_NE(done.warnings[0].find("history line 20"), std::string::npos) << done.warnings[0];
  EXPECT_TRUE(state["complete"].get<bool>());
}

TEST_F(UploadIntegration, ExitCodeAndRunIdFromMetadata) {
  const auto run = make_run(runs_, "dir-name", 5);
  write_file(run + "/run.json", R"({"id": "meta-id-7"})");
  sync_run(run, options(), 3);
  const json state = server_->state();
  EXPECT_EQ(state["upserts"][0]["name"], "meta-id-7");
  EXPECT_EQ(state["exitcode"], 3);
  bool streamed_to_meta_id = false;
  for (const auto& r : state["requests"])
    streamed_to_meta_id |= r["path"] == "/files/team/proj/meta-id-7/file_stream";
  EXPECT_TRUE(streamed_to_meta_id);
}

// Live: the uploader tails the directory while "training" appends lines (a line is half-written
// for a while), replaces summary.json and the best checkpoint by rename, and the server goes away
// for 1.5 s in the middle.
TEST_F(UploadIntegration, LiveUploadSurvivesServerDowntimeAndFollowsReplacedFiles) {
  const auto run = make_run(runs_, "run-live", 0, 1000, /*torn_tail=*/false);
  Uploader uploader(run, options());
  uploader.start();
  const std::string history = run + "/history.jsonl";
  for (int step = 0; step < 240; ++step) {
    const std::string line = history_line(step) + "\n";
    if (step == 50) {
      append_file(history, line.substr(0, 20));  // torn: must not be sent until completed
      std::this_thread::sleep_for(100ms);
      append_file(history, line.substr(20));
    } else {
      append_file(history, line);
    }
    if (step % 40 == 0)
      replace_file(run + "/summary.json", json{{"loss", 1.0 / (step + 1)}, {"_step", step}}.dump());
    if (step == 60) replace_file(run + "/checkpoints/model-best.pt", random_bytes(200000, 60));
    if (step == 100) server_->go_down(1500);
    if (step == 200) replace_file(run + "/checkpoints/model-best.pt", random_bytes(150000, 200));
    std::this_thread::sleep_for(10ms);
    uploader.check();  // no error surfaced while the server is away
  }
  replace_file(run + "/summary.json", json{{"loss", 0.001}, {"best_loss", 0.001}}.dump());
  const UploadProgress done = uploader.stop(0);
  EXPECT_EQ(done.history_lines_sent, 240);
  expect_uploaded(run);
  const json state = server_->state();
  EXPECT_GE(state["files"]["checkpoints/model-best.pt"]["puts"].get<int>(), 2)
      << "the replaced best checkpoint was not uploaded again";
  // The server really was away: no request was handled for over a second.
  double longest_gap = 0, previous = -1;
  for (const auto& r : state["requests"]) {
    if (previous >= 0) longest_gap = std::max(longest_gap, r["t"].get<double>() - previous);
    previous = r["t"];
  }
  EXPECT_GE(longest_gap, 1.0);
}

TEST_F(UploadIntegration, OneUploaderPerRunDirectory) {
  const auto run = make_run(runs_, "run-lock", 5);
  {
    Uploader first(run, options());
    EXPECT_THROW(Uploader(run, options()), Error);
  }
  Uploader again(run, options());  // released with the first
  again.sync(0);
  expect_uploaded(run);
}

TEST_F(UploadIntegration, DestroyingTheLiveUploaderDoesNotWaitForTheServer) {
  const auto run = make_run(runs_, "run-abandon", 10);
  server_->set_slow(5000);  // every request hangs
  const auto started = std::chrono::steady_clock::now();
  {
    Uploader uploader(run, options());
    uploader.start();
    std::this_thread::sleep_for(200ms);
  }  // the destructor cancels the request in flight
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  server_->set_slow(0);
  // Nothing was acknowledged, so no progress may be claimed.
  EXPECT_FALSE(std::filesystem::exists(run + "/upload/wandb-state.json"));
  EXPECT_FALSE(server_->state()["complete"].get<bool>());
}

// TLS: a server whose certificate the client does not trust is refused at once (no retries); the
// same server is accepted when its certificate is given as the CA bundle.
TEST(UploadTls, CertificatesAreVerified) {
  const std::string work = make_temp_dir("upload-tls");
  const std::string cert = work + "/cert.pem", key = work + "/key.pem";
  auto make_certificate = [](const std::string& cert_path, const std::string& key_path) {
    const std::string command =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
        "-addext subjectAltName=IP:127.0.0.1 -keyout " + key_path + " -out " + cert_path +
        " >/dev/null 2>&1";
    return std::system(command.c_str()) == 0;
  };
  const std::string other_cert = work + "/other-cert.pem", other_key = work + "/other-key.pem";
  if (!make_certificate(cert, key) || !make_certificate(other_cert, other_key)) {
    remove_tree(work);
    GTEST_SKIP() << "openssl cannot make a test certificate here";
  }
  const auto run = make_run(work + "/runs", "run-tls", 20);
  {
    FakeWandbServer server(work, kApiKey, cert, key);
    UploadOptions o;
    o.base_url = server.base_url();
    o.api_key = kApiKey;
    o.entity = "team";
    o.project = "proj";
    o.retry.initial_delay_seconds = 0.01;
    o.retry.max_delay_seconds = 0.05;
    o.retry.max_elapsed_seconds = 10;
    o.ca_bundle = other_cert;  // a valid CA, but not the one that signed the server's certificate
    const auto started = std::chrono::steady_clock::now();
    try {
      sync_run(run, o, 0);
      ADD_FAILURE() << "an untrusted certificate was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("TLS certificates are always verified"), std::string::npos)
          << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - started, 3s) << "a TLS failure must not be retried";
    EXPECT_TRUE(server.state()["requests"].empty());

    o.ca_bundle = cert;
    sync_run(run, o, 0);
    const json state = server.state();
    EXPECT_EQ(state["history"].size(), 20u);
    EXPECT_TRUE(state["complete"].get<bool>());
    EXPECT_EQ(read_file(server.store_dir() + "/checkpoints/model-best.pt"),
              read_file(run + "/checkpoints/model-best.pt"));
  }
  remove_tree(work);
}

// The CLI as a child process, SIGKILLed mid-history and mid-file-upload, then run again.
struct ChildResult {
  int exit_code = -1;
  bool killed = false;
};

class CliRun {
 public:
  CliRun(const std::vector<std::string>& args, const std::string& out_path) {
    pid_ = fork();
    if (pid_ == 0) {
      FILE* out = std::freopen(out_path.c_str(), "a", stdout);
      FILE* err = std::freopen(out_path.c_str(), "a", stderr);
      (void)out;
      (void)err;
      setenv("WANDB_API_KEY", kApiKey.c_str(), 1);
      std::vector<char*> argv;
      std::vector<std::string> copy = args;
      for (auto& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(TRAINSCOPE_CLI_PATH, argv.data());
      _exit(127);
    }
  }
  bool running() {
    if (done_) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      done_ = true;
      result_.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    return !done_;
  }
  void kill_now() {
    if (!running()) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    done_ = true;
    result_.killed = true;
  }
  ChildResult wait() {
    while (running()) std::this_thread::sleep_for(10ms);
    return result_;
  }
  ~CliRun() { kill_now(); }

 private:
  pid_t pid_ = -1;
  bool done_ = false;
  ChildResult result_;
};

TEST_F(UploadIntegration, CliKilledMidUploadResumesExactlyOnce) {
  const auto run = make_run(runs_, "run-kill", 400, 2 << 20);
  const std::string log = work_ + "/cli.log";
  const std::vector<std::string> args = {"trainscope", "sync", run, "--base-url", server_->base_url(),
                                         "--entity", "team", "--project", "proj", "--timeout", "5",
                                         "--retry-initial", "0.01", "--retry-max", "0.05",
                                         "--max-request-bytes", "3000"};
  server_->set_slow(15);  // ~60 file_stream requests: time to kill in the middle

  auto wait_until = [&](CliRun& cli, auto condition) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (cli.running() && std::chrono::steady_clock::now() < deadline) {
      if (condition(server_->state())) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  };
  {  // killed after ~100 lines
    CliRun cli(args, log);
    ASSERT_TRUE(wait_until(cli, [](const json& s) { return s["history"].size() >= 100; }));
    cli.kill_now();
  }
  const size_t after_first_kill = server_->state()["history"].size();
  EXPECT_LT(after_first_kill, 400u) << "the first run was not killed mid-history";
  {  // killed after ~300 lines
    CliRun cli(args, log);
    ASSERT_TRUE(wait_until(cli, [](const json& s) { return s["history"].size() >= 300; }));
    cli.kill_now();
  }
  {  // killed while the 2 MiB checkpoint is being PUT (the server is slow to read it)
    server_->set_slow(400);
    const int graphql_before = count_requests(server_->state(), "/graphql", 200);
    CliRun cli(args, log);
    // RunResumeStatus, UpsertBucket, then CreateRunFiles: right after it the first PUT (the
    // checkpoint) starts, and the server sleeps 400 ms before reading it.
    ASSERT_TRUE(wait_until(cli, [&](const json& s) {
      return count_requests(s, "/graphql", 200) >= graphql_before + 3;
    }));
    std::this_thread::sleep_for(150ms);
    cli.kill_now();
    server_->set_slow(0);
  }
  EXPECT_FALSE(server_->state()["complete"].get<bool>());
  {
    CliRun cli(args, log);
    const ChildResult result = cli.wait();
    EXPECT_FALSE(result.killed);
    EXPECT_EQ(result.exit_code, 0) << read_file(log);
  }
  expect_uploaded(run);
  const json state = server_->state();
  // Each restart resends at most the batch that was in flight when it was killed.
  EXPECT_LE(state["resent_lines"].get<int>(), 3 * 40);
  const std::string output = read_file(log);
  EXPECT_NE(output.find("synced team/proj/run-kill: 400 history lines"), std::string::npos) << output;
  EXPECT_EQ(output.find(kApiKey), std::string::npos) << "the API key appeared in the CLI's output";
}

TEST_F(UploadIntegration, CliReportsUnauthorizedClearly) {
  const auto run = make_run(runs_, "run-cli-401", 3);
  const std::string log = work_ + "/cli.log";
  const std::string wrong_key = "ts-wrong-cli-key-00000000000000000000000000";
  pid_t pid = fork();
  if (pid == 0) {
    FILE* out = std::freopen(log.c_str(), "w", stdout);
    FILE* err = std::freopen(log.c_str(), "a", stderr);
    (void)out;
    (void)err;
    setenv("WANDB_API_KEY", wrong_key.c_str(), 1);
    const std::string url = server_->base_url();
    execl(TRAINSCOPE_CLI_PATH, "trainscope", "sync", run.c_str(), "--base-url", url.c_str(),
          "--project", "proj", (char*)nullptr);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  const std::string output = read_file(log);
  EXPECT_NE(output.find("HTTP 401"), std::string::npos) << output;
  EXPECT_EQ(output.find(wrong_key), std::string::npos) << output;
  EXPECT_EQ(server_->state()["requests"].size(), 1u);
  EXPECT_FALSE(tree_contains(run, wrong_key));
}

// ---- W&B parity: what the server receives beyond the run directory's lines ----------------------

// A diverging loss: the run writer keeps NaN/±Inf readable by strict JSON readers ("NaN"
// strings); W&B must receive the numbers, as the tokens NaN, Infinity, -Infinity.
TEST_F(UploadIntegration, NonFiniteMetricsReachWandbAsTokens) {
  const std::string dir = runs_ + "/run-nan";
  {
    RunOptions ro;
    ro.directory = dir;
    trainscope::Run run(ro);
    StepRecord a;
    a.scalars = {{"loss", 0.5}};
    a.texts = {{"phase", "train"}};
    run.commit(a);
    StepRecord b;
    b.scalars = {{"loss", std::nan("")}, {"up", INFINITY}, {"down", -INFINITY}, {"ok", 1.5}};
    run.commit(b);
    run.finish();
  }
  const auto local = complete_history_lines(dir);
  ASSERT_EQ(local.size(), 2u);
  EXPECT_EQ(json::parse(local[1])["loss"], "NaN") << "history.jsonl must stay strict JSON";
  sync_run(dir, options(), 0);
  const json state = server_->state();
  ASSERT_EQ(state["history"].size(), 2u);
  EXPECT_EQ(state["history"][0], local[0]) << "finite lines are sent byte for byte";
  EXPECT_FALSE(state["history_nonfinite"].contains("0"));
  EXPECT_EQ(state["history_nonfinite"]["1"],
            json({{"loss", "nan"}, {"up", "inf"}, {"down", "-inf"}}));
  EXPECT_NE(state["history"][1].get<std::string>().find("\"loss\":NaN"), std::string::npos);
  EXPECT_EQ(state["summary"]["loss"], "nonfinite:nan");
  EXPECT_EQ(state["summary"]["up"], "nonfinite:inf");
  EXPECT_EQ(state["summary"]["ok"], 1.5);
  EXPECT_EQ(state["summary"]["phase"], "train");
}

// Two run directories with the same run id: the second must not overwrite the first's history.
TEST_F(UploadIntegration, RunIdCollisionIsRefusedUnlessResumeAllows) {
  const auto first = make_run(runs_ + "/a", "shared-id", 30, 1000, /*torn_tail=*/false);
  const auto second = make_run(runs_ + "/b", "shared-id", 12, 1000);
  sync_run(first, options(), 0);
  const json before = server_->state();
  ASSERT_EQ(before["history"].size(), 30u);
  try {
    sync_run(second, options(), 0);
    ADD_FAILURE() << "a run created by another directory was written to";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("already exists"), std::string::npos) << message;
    EXPECT_NE(message.find("team/proj/shared-id"), std::string::npos) << message;
    EXPECT_NE(message.find("--resume allow"), std::string::npos) << message;
  }
  const json refused = server_->state();
  EXPECT_EQ(refused["history"], before["history"]);
  EXPECT_EQ(refused["upserts"].size(), 1u) << "the refused run must not even be upserted";
  EXPECT_EQ(refused["summary"], before["summary"]);
  EXPECT_EQ(refused["requests"].size(), before["requests"].size() + 1) << "only the lookup";

  // The directory that created the run may always continue it.
  append_file(first + "/history.jsonl", history_line(30) + "\n");
  sync_run(first, options(), 0);
  EXPECT_EQ(server_->state()["history"].size(), 31u);

  // resume allow: the second directory's lines go after the server's.
  UploadOptions allow = options();
  allow.resume = ResumeMode::Allow;
  sync_run(second, allow, 0);
  const json appended = server_->state();
  const auto a_lines = complete_history_lines(first), b_lines = complete_history_lines(second);
  ASSERT_EQ(appended["history"].size(), a_lines.size() + b_lines.size());
  for (size_t i = 0; i < a_lines.size(); ++i) EXPECT_EQ(appended["history"][i], a_lines[i]) << i;
  for (size_t i = 0; i < b_lines.size(); ++i)
    EXPECT_EQ(appended["history"][a_lines.size() + i], b_lines[i]) << i;
  EXPECT_TRUE(appended["conflicts"].empty());
  EXPECT_FALSE(appended["upserts"].back()["inserted"].get<bool>());

  // resume must: a run that does not exist is refused.
  const auto third = make_run(runs_ + "/c", "nobody-made-this", 3, 1000);
  UploadOptions must = options();
  must.resume = ResumeMode::Must;
  try {
    sync_run(third, must, 0);
    ADD_FAILURE() << "resume must accepted a missing run";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(server_->state()["runs"].contains("team/proj/nobody-made-this"));
}

// Files go up several at a time, byte-identical, and file_stream lists each finished file.
TEST_F(UploadIntegration, FilesArePutInParallelAndListedAsUploaded) {
  const auto run = make_run(runs_, "run-par", 10);
  for (int i = 0; i < 10; ++i)
    write_file(run + "/media/images/extra_" + std::to_string(i) + ".png", random_bytes(20000 + i, 900 + i));
  server_->set_slow(150);  // each request takes a while: serial PUTs would never overlap
  UploadOptions o = options();
  o.request_timeout_seconds = 5;
  o.max_parallel_uploads = 4;
  const auto started = std::chrono::steady_clock::now();
  sync_run(run, o, 0);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  server_->set_slow(0);
  expect_uploaded(run);
  const json state = server_->state();
  EXPECT_GE(state["max_puts_in_flight"].get<int>(), 2);
  EXPECT_LE(state["max_puts_in_flight"].get<int>(), 4);
  std::set<std::string> expected;
  for (const auto& name : run_file_names(run)) expected.insert(name == "graph.json" ? "trainscope-graph.json" : name);
  EXPECT_EQ(expected.size(), 14u);
  expected.insert("config.yaml");  // made by the uploader from config.json
  std::set<std::string> listed;
  for (const auto& list : state["uploaded"])
    for (const auto& name : list) listed.insert(name.get<std::string>());
  EXPECT_EQ(listed, expected);
  ASSERT_TRUE(state["final_uploaded"].is_array());
  EXPECT_EQ(std::set<std::string>(state["final_uploaded"].begin(), state["final_uploaded"].end()), expected);
  for (const auto& [name, file] : state["files"].items()) EXPECT_EQ(file["puts"], 1) << name;
  EXPECT_LT(seconds, 14 * 0.15 + 2.0) << "PUTs did not overlap";
}

TEST_F(UploadIntegration, UnresolvableHostFailsAtOnceNamingTheUrl) {
  const auto run = make_run(runs_, "run-dns", 3, 1000);
  UploadOptions o = options();
  o.base_url = "http://no-such-host.invalid";
  const auto started = std::chrono::steady_clock::now();
  try {
    sync_run(run, o, 0);
    ADD_FAILURE() << "expected an Error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cannot resolve"), std::string::npos) << message;
    EXPECT_NE(message.find("http://no-such-host.invalid/graphql"), std::string::npos) << message;
    EXPECT_NE(message.find("WANDB_BASE_URL"), std::string::npos) << message;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << "an unresolvable host was retried";
  EXPECT_FALSE(std::filesystem::exists(run + "/upload/wandb-state.json"));
}

TEST_F(UploadIntegration, WrongBaseUrlIsNotReportedAsAMissingRun) {
  const auto run = make_run(runs_, "run-404", 3, 1000);
  UploadOptions o = options();
  o.base_url = server_->base_url() + "/not-wandb";
  try {
    sync_run(run, o, 0);
    ADD_FAILURE() << "expected an Error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("HTTP 404"), std::string::npos) << message;
    EXPECT_NE(message.find(o.base_url + "/graphql"), std::string::npos) << message;
    EXPECT_NE(message.find("no W&B API"), std::string::npos) << message;
    EXPECT_EQ(message.find("does not exist"), std::string::npos) << message;
  }
  EXPECT_EQ(server_->state()["requests"].size(), 1u) << "a 404 must not be retried";
}

TEST_F(UploadIntegration, WandbConfigEntryDefinesTheMonitoredMetric) {
  const auto run = make_run(runs_, "run-cfg", 4, 1000);
  write_file(run + "/config.json",
             R"({"lr": 0.1, "trainscope.monitor": "val_acc", "trainscope.mode": "max"})");
  write_file(run + "/summary.json", R"({"val_acc": 0.5, "_runtime": 12.75, "_step": 3})");
  sync_run(run, options(), 0);
  const json state = server_->state();
  const json wandb = state["upserts"][0]["config"]["_wandb"];
  ASSERT_TRUE(wandb.contains("value")) << wandb;
  const json value = wandb["value"];
  EXPECT_TRUE(value["cli_version"].is_string());
  EXPECT_TRUE(value["t"].is_object());
  EXPECT_EQ(value["m"], json::parse(R"([{"1": "val_acc", "6": [3], "7": [2, 5], "8": 2}])"));
  EXPECT_EQ(state["upserts"][0]["config"]["lr"], json({{"value", 0.1}}));
  EXPECT_EQ(state["summary"]["_wandb"], json({{"runtime", 12}}));
}

// run.json (written by Run: RunOptions' identity, Run::define_metric) becomes UpsertBucket's
// displayName / notes / groupName / jobType / tags and the metric list of config "_wandb" "m",
// encoded as W&B's MetricRecord (step metric by one-based index, an undefined step metric listed).
TEST_F(UploadIntegration, RunIdentityAndMetricDefinitionsReachTheServer) {
  const auto run = make_run(runs_, "run-identity", 4, 1000);
  write_file(run + "/config.json", R"({"trainscope.monitor": "val_acc", "trainscope.mode": "max"})");
  write_file(run + "/run.json", R"({"id": "run-identity", "name": "baseline", "notes": "first try",
      "group": "sweep-1", "job_type": "train", "tags": ["a", "b"],
      "metrics": [{"name": "val_acc", "step_metric": "epoch", "summary": ["max"], "goal": "maximize"},
                  {"name": "train/*", "step_metric": "val_acc", "step_sync": true, "hidden": true,
                   "summary": ["none"]}]})");
  sync_run(run, options(), 0);
  const json state = server_->state();
  ASSERT_EQ(state["upserts"].size(), 1u);
  const json upsert = state["upserts"][0];
  EXPECT_EQ(upsert["undeclared"], json::array()) << "variables the mutation does not declare";
  EXPECT_EQ(upsert["displayName"], "baseline");
  EXPECT_EQ(upsert["notes"], "first try");
  EXPECT_EQ(upsert["groupName"], "sweep-1");
  EXPECT_EQ(upsert["jobType"], "train");
  EXPECT_EQ(upsert["tags"], json({"a", "b"}));
  // The run's definition of the monitored metric replaces the callback's default one.
  EXPECT_EQ(upsert["config"]["_wandb"]["value"]["m"], json::parse(R"([
      {"1": "val_acc", "5": 3, "6": [3], "7": [2], "8": 2},
      {"2": "train/*", "5": 1, "6": [1, 2, 3], "7": [6]},
      {"1": "epoch", "6": [], "7": []}])"));
}

TEST_F(UploadIntegration, ARunWithoutIdentitySendsNoneOfItsFields) {
  const auto run = make_run(runs_, "run-plain", 2, 1000);
  sync_run(run, options(), 0);
  const json upsert = server_->state()["upserts"][0];
  EXPECT_EQ(upsert["undeclared"], json::array());
  for (const char* field : {"displayName", "notes", "groupName", "jobType", "tags"})
    EXPECT_TRUE(upsert[field].is_null()) << field;
}

// Live mode runs in the training process: it describes the process (wandb-metadata.json,
// UpsertBucket host/program) and samples the machine into wandb-events.jsonl.
TEST_F(UploadIntegration, LiveUploadSendsMetadataAndSystemMetrics) {
  const auto run = make_run(runs_, "run-sys", 0, 1000, /*torn_tail=*/false);
  UploadOptions o = options();
  o.system_metrics_interval_seconds = 0.1;
  Uploader uploader(run, o);
  uploader.start();
  std::vector<double> burn;
  const auto until = std::chrono::steady_clock::now() + 700ms;
  for (int step = 0; std::chrono::steady_clock::now() < until; ++step) {
    append_file(run + "/history.jsonl", history_line(step) + "\n");
    for (int i = 0; i < 200000; ++i) burn.push_back(i * 0.5);  // some CPU and memory to see
    burn.clear();
    std::this_thread::sleep_for(20ms);
  }
  uploader.stop(0);
  const json state = server_->state();
  EXPECT_TRUE(state["gaps"].empty()) << state["gaps"];

  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  ASSERT_TRUE(state["files"].contains("wandb-metadata.json"));
  const json meta = json::parse(read_file(server_->store_dir() + "/wandb-metadata.json"));
  EXPECT_EQ(meta["host"], host);
  EXPECT_TRUE(meta["program"].is_string() && !meta["program"].get<std::string>().empty()) << meta;
  EXPECT_TRUE(meta["args"].is_array());
  EXPECT_TRUE(meta["startedAt"].is_string());
  EXPECT_EQ(meta["cpu_count_logical"], sysconf(_SC_NPROCESSORS_ONLN));
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  meminfo >> key >> kib;  // MemTotal is the first line
  EXPECT_EQ(meta["memory"]["total"], std::to_string(kib * 1024));
  ASSERT_FALSE(state["upserts"].empty());
  EXPECT_EQ(state["upserts"][0]["host"], host);
  EXPECT_EQ(state["upserts"][0]["program"], meta["program"]);

  void* nvml = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  const bool gpus_visible = nvml != nullptr;
  if (nvml) dlclose(nvml);
  EXPECT_EQ(meta.contains("gpu_nvidia"), gpus_visible && meta.value("gpu_count", 0) > 0);

  ASSERT_GE(state["events"].size(), 3u);
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  bool saw_cpu = false;
  for (const auto& line : state["events"]) {
    const json row = json::parse(line.get<std::string>());
    EXPECT_EQ(row["_wandb"], true);
    EXPECT_NEAR(row["_timestamp"].get<double>(), now, 30.0);
    EXPECT_GE(row["_runtime"].get<double>(), 0.0);
    EXPECT_GT(row["system.memory_percent"].get<double>(), 0.0);
    EXPECT_LE(row["system.memory_percent"].get<double>(), 100.0);
    EXPECT_GT(row["system.proc.memory.rssMB"].get<double>(), 1.0);
    EXPECT_LT(row["system.proc.memory.rssMB"].get<double>(), kib / 1024.0);
    EXPECT_GE(row["system.proc.cpu.threads"].get<int>(), 2);  // this thread and the uploader's
    if (row.contains("system.cpu")) {
      saw_cpu = true;
      EXPECT_GE(row["system.cpu"].get<double>(), 0.0);
      EXPECT_LE(row["system.cpu"].get<double>(), 100.0 * sysconf(_SC_NPROCESSORS_ONLN) + 1);
      EXPECT_TRUE(row.contains("system.cpu.0.cpu_percent")) << row;
    }
    bool gpu_key = false;
    for (const auto& [k, v] : row.items()) gpu_key |= k.rfind("system.gpu.", 0) == 0;
    if (!gpus_visible) EXPECT_FALSE(gpu_key) << "GPU rows without NVML: " << row;
  }
  EXPECT_TRUE(saw_cpu);
}

}  // namespace
}  // namespace trainscope::testing
