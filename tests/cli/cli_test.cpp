// The `trainscope` tool as users run it: a child process, its exit status and its output.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainscope/run/run.h"

namespace {
namespace fs = std::filesystem;

const std::string kResumeSentence = "run the same command again to resume";

struct Result {
  int status = -1;
  std::string output;  // stdout and stderr together
};

std::string quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs `env -i <env...> trainscope <args...>` so no variable of the test's environment leaks in.
Result cli(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  std::string command = "env -i PATH=/usr/bin:/bin";
  for (const auto& e : env) command += " " + quote(e);
  command += " " + quote(TRAINSCOPE_CLI_PATH);
  for (const auto& a : args) command += " " + quote(a);
  command += " 2>&1";
  Result result;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return result;
  char buffer[4096];
  for (std::size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) result.output.append(buffer, n);
  const int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "trainscope-cli-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  void TearDown() override { fs::remove_all(root_); }

  // A run written by trainscope::Run: 3 steps with a loss, an image on step 1, a table on step 2,
  // a best value in the summary.
  fs::path make_run(const std::string& id) {
    trainscope::RunOptions options;
    options.root = root_.string();
    options.run_id = id;
    trainscope::Run run(options);
    run.set_config({{"lr", 0.01}, {"model", std::string("tiny")}});
    for (int step = 0; step < 3; ++step) {
      trainscope::StepRecord record;
      record.scalars["loss"] = 1.0 / (step + 1);
      if (step == 1) {
        trainscope::ImageValue image;
        image.width = image.height = 2;
        image.pixels.assign(12, uint8_t(40 * step));
        record.images["examples"] = {image};
      }
      if (step == 2) record.tables["evaluation"] = {{"id", "score"}, {{int64_t(1), 0.5}}};
      run.commit(std::move(record));
    }
    run.set_summary("best_val_acc", 0.875);
    run.set_summary("best_epoch", int64_t(2));
    run.finish();
    return root_ / id;
  }

  fs::path root_;
};

TEST_F(Cli, HelpListsEveryCommand) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{{}, {"--help"}, {"-h"}, {"help"}}) {
    const Result r = cli(args);
    EXPECT_EQ(r.status, 0) << r.output;
    for (const char* name : {"sync", "ls", "show", "verify", "tb"})
      EXPECT_TRUE(contains(r.output, std::string("  ") + name + " ")) << name << " missing in:\n" << r.output;
  }
}

TEST_F(Cli, CommandHelpShowsItsUsage) {
  for (const char* name : {"sync", "ls", "show", "verify", "tb"}) {
    const std::string usage = std::string("usage: trainscope ") + name;
    const Result help = cli({"help", name});
    EXPECT_EQ(help.status, 0);
    EXPECT_TRUE(contains(help.output, usage)) << help.output;
    const Result flag = cli({name, "--help"});
    EXPECT_EQ(flag.status, 0);
    EXPECT_EQ(flag.output, help.output);
  }
  const Result unknown = cli({"frobnicate"});
  EXPECT_EQ(unknown.status, 2);
  EXPECT_TRUE(contains(unknown.output, "unknown command 'frobnicate'")) << unknown.output;
}

TEST_F(Cli, VersionIsTheProjectVersion) {
  const Result r = cli({"--version"});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output, std::string("trainscope ") + TRAINSCOPE_VERSION + "\n");
}

TEST_F(Cli, VerifyPassesAGoodRun) {
  const fs::path run = make_run("good");
  const Result r = cli({"verify", run.string()});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "ok: ")) << r.output;
  EXPECT_TRUE(contains(r.output, "3 history lines, 2 referenced files")) << r.output;
}

TEST_F(Cli, VerifyNamesEachProblem) {
  const fs::path run = make_run("bad");
  // A media file changed after it was logged, a step that goes backwards, a line that is not
  // JSON, and a temp file of an interrupted replace.
  fs::path image;
  for (const auto& entry : fs::recursive_directory_iterator(run / "media/images")) image = entry.path();
  ASSERT_FALSE(image.empty());
  std::string bytes = read(image);
  bytes[bytes.size() / 2] ^= 0x5a;
  write(image, bytes);
  std::ofstream(run / "history.jsonl", std::ios::app) << "{\"_step\": 1, \"loss\": 0.1}\nnot json\n";
  write(run / "summary.json.tmp-4242", "{");

  const Result r = cli({"verify", run.string()});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "4 problem(s)")) << r.output;
  EXPECT_TRUE(contains(r.output, image.filename().string() + " does not match its sha256")) << r.output;
  EXPECT_TRUE(contains(r.output, "line 4: _step 1 does not increase (previous 2)")) << r.output;
  EXPECT_TRUE(contains(r.output, "line 5: not a JSON object")) << r.output;
  EXPECT_TRUE(contains(r.output, "summary.json.tmp-4242: temporary file")) << r.output;

  fs::remove(image);
  const Result missing = cli({"verify", run.string()});
  EXPECT_TRUE(contains(missing.output, image.filename().string() + " is missing")) << missing.output;
}

TEST_F(Cli, LsShowsEachRun) {
  make_run("first");
  const fs::path crashed = make_run("second");
  std::ofstream(crashed / "history.jsonl", std::ios::app) << "{\"_step\": 3, \"lo";  // killed mid-line
  // Files written just now count as running; age them past the one-minute window.
  const auto old = fs::file_time_type::clock::now() - std::chrono::minutes(5);
  for (const char* id : {"first", "second"})
    for (const char* name : {"history.jsonl", "summary.json"}) fs::last_write_time(root_ / id / name, old);
  fs::create_directories(root_ / "not-a-run");

  const Result r = cli({"ls", root_.string()});
  EXPECT_EQ(r.status, 0) << r.output;
  std::istringstream lines(r.output);
  std::string header, first, second, extra;
  std::getline(lines, header);
  std::getline(lines, first);
  std::getline(lines, second);
  EXPECT_FALSE(std::getline(lines, extra)) << r.output;
  EXPECT_TRUE(contains(header, "STATUS")) << r.output;
  EXPECT_EQ(first.rfind("first ", 0), 0u) << r.output;
  EXPECT_TRUE(contains(first, " stopped ")) << first;
  EXPECT_TRUE(contains(first, " 3 ")) << first;
  EXPECT_TRUE(contains(first, "best_val_acc=0.875 (epoch 2)")) << first;
  EXPECT_TRUE(contains(second, " crashed ")) << second;
}

TEST_F(Cli, ShowPrintsConfigAndSummary) {
  const fs::path run = make_run("shown");
  const Result r = cli({"show", run.string()});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "config:\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "model  tiny")) << r.output;
  EXPECT_TRUE(contains(r.output, "best_val_acc")) << r.output;
  EXPECT_TRUE(contains(r.output, "image-file media/images/examples_1_")) << r.output;
}

TEST_F(Cli, ShowPrintsTheRunsIdentity) {
  const fs::path run = make_run("named");
  std::ofstream(run / "run.json") << R"({"id": "named", "name": "baseline", "group": "sweep-1",
      "job_type": "train", "tags": ["a", "b"], "notes": "first try"})";
  const Result r = cli({"show", run.string()});
  EXPECT_EQ(r.status, 0) << r.output;
  for (const char* line : {"\nname: baseline\n", "\ngroup: sweep-1\n", "\njob type: train\n",
                           "\nnotes: first try\n", "\ntags: a, b\n"})
    EXPECT_TRUE(contains(r.output, line)) << line << " in " << r.output;
  EXPECT_FALSE(contains(cli({"show", make_run("unnamed").string()}).output, "name:"));
}

TEST_F(Cli, TbPrintsTheTensorBoardCommand) {
  const fs::path run = root_ / "with-tb";
  fs::create_directories(run / "tb");
  const std::string canonical_root = fs::canonical(root_).string();
  EXPECT_EQ(cli({"tb", run.string()}).output, "tensorboard --logdir " + canonical_root + "/with-tb/tb\n");
  EXPECT_EQ(cli({"tb", root_.string()}).output, "tensorboard --logdir " + canonical_root + "\n");
  const Result none = cli({"tb", (run / "tb").string()});
  EXPECT_EQ(none.status, 1);
  EXPECT_TRUE(contains(none.output, "no tb/ folder")) << none.output;
}

TEST_F(Cli, MissingDirectoryIsAClearErrorWithoutResumeAdvice) {
  const std::string missing = (root_ / "no-such-run").string();
  for (const char* command : {"sync", "verify", "show", "ls", "tb"}) {
    const Result r = cli({command, missing}, {"WANDB_API_KEY=ts-test-key-0000000000000000000000000000000"});
    EXPECT_EQ(r.status, 1) << command << ": " << r.output;
    EXPECT_TRUE(contains(r.output, "'" + missing + "' does not exist")) << r.output;
    EXPECT_FALSE(contains(r.output, kResumeSentence)) << r.output;
  }
  EXPECT_FALSE(fs::exists(root_ / "no-such-run"));
}

TEST_F(Cli, ConfigErrorGivesNoResumeAdviceAndNoLock) {
  const fs::path run = make_run("no-key");
  const Result r = cli({"sync", run.string(), "--project", "p"}, {"HOME=" + root_.string()});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "no W&B API key found")) << r.output;
  EXPECT_FALSE(contains(r.output, kResumeSentence)) << r.output;
  EXPECT_FALSE(fs::exists(run / "upload" / "wandb.lock"));
}

// A loopback port that nothing listens on: every connection is refused.
int closed_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  close(fd);
  return ntohs(address.sin_port);
}

TEST_F(Cli, TransientFailureSaysToResumeAndLeavesNoLock) {
  const fs::path run = make_run("refused");
  const std::string url = "http://127.0.0.1:" + std::to_string(closed_port());
  const Result r = cli({"sync", run.string(), "--base-url", url, "--project", "p", "--entity", "e",
                        "--retry-initial", "0.05", "--retry-max", "0.1", "--retry-give-up", "0.5"},
                       {"WANDB_API_KEY=ts-test-key-0000000000000000000000000000000"});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "still failing")) << r.output;
  EXPECT_TRUE(contains(r.output, kResumeSentence)) << r.output;
  EXPECT_FALSE(fs::exists(run / "upload" / "wandb.lock"));
}

// A server that answers every request with 401: a refusal that no rerun fixes.
class UnauthorizedServer {
 public:
  UnauthorizedServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    listen(fd_, 8);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        const int client = accept(fd_, nullptr, nullptr);
        if (client < 0) return;
        char buffer[8192];
        (void)!recv(client, buffer, sizeof buffer, 0);
        const std::string reply =
            "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        (void)!send(client, reply.data(), reply.size(), MSG_NOSIGNAL);
        close(client);
      }
    });
  }
  ~UnauthorizedServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(Cli, RefusalGivesNoResumeAdviceAndLeavesNoLock) {
  const fs::path run = make_run("refusal");
  UnauthorizedServer server;
  const Result r = cli({"sync", run.string(), "--base-url", "http://127.0.0.1:" + std::to_string(server.port()),
                        "--project", "p", "--entity", "e"},
                       {"WANDB_API_KEY=ts-test-key-0000000000000000000000000000000"});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "HTTP 401")) << r.output;
  EXPECT_FALSE(contains(r.output, kResumeSentence)) << r.output;
  EXPECT_FALSE(fs::exists(run / "upload" / "wandb.lock"));
}

}  // namespace
