// Fault injection end to end: a writer killed at seeded random moments and resumed, a real full
// disk (a small tmpfs) and a read-only one, invalid UTF-8 against TensorBoard's reader, damaged
// state files, and W&B servers that lie. Every run directory is checked by the one verifier.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/expect_error.h"
#include "support/run_dir_verifier.h"
#include "trainscope/error.h"
#include "trainscope/run/run.h"
#include "trainscope/sinks/tensorboard.h"
#include "trainscope/upload/uploader.h"
#include "upload/fake_server.h"
#include "upload/run_fixture.h"

namespace trainscope {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test_support::expect_error;
using testing::describe;
using testing::verify_run_dir;
using testing::VerifyOptions;

fs::path test_root() { return fs::temp_directory_path() / ("trainscope_fault_" + std::to_string(::getpid())); }

// The test directories go when every test passed (they stay for inspection otherwise).
struct RemoveTestRoot : ::testing::Environment {
  void TearDown() override {
    if (!::testing::UnitTest::GetInstance()->Failed()) fs::remove_all(test_root());
  }
};
const auto* const remove_test_root = ::testing::AddGlobalTestEnvironment(new RemoveTestRoot);

fs::path fresh_dir(const std::string& name) {
  fs::path dir = test_root() / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

RunOptions options_for(const fs::path& dir) {
  RunOptions options;
  options.directory = dir.string();
  options.durability.fsync_replaced_files = false;  // kills, not power loss: keep the test fast
  return options;
}

ImageValue tiny_image(int64_t step) {
  ImageValue image{4, 3, 3, std::vector<uint8_t>(36), "step " + std::to_string(step)};
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = uint8_t(step * 31 + i);
  return image;
}

// The step a writer logs: scalars every step, now and then a histogram, an image and a table, so a
// kill can land in any of the writes (media, line, summary, event file).
StepRecord step_record(int64_t step) {
  StepRecord r;
  r.scalars["loss"] = 1.0 / double(step + 1);
  r.scalars["lr"] = 0.1;
  if (step % 3 == 0) r.histograms["w"] = HistogramValue{{1, int64_t(step)}, {0.0, 0.5, 1.0}, step + 1, 0, 1, 1, 1};
  if (step % 4 == 1) r.images["examples"] = {tiny_image(step)};
  if (step % 5 == 2) r.tables["eval"] = TableValue{{"id", "label"}, {{step, std::string("cat")}}};
  if (step % 7 == 3) r.texts["note"] = std::string(size_t(200 + step % 50), 'n');
  return r;
}

std::shared_ptr<TensorBoardSink> tensorboard_for(const Run& run) {
  TensorBoardOptions o;
  o.flush_interval_seconds = 0.01;
  return std::make_shared<TensorBoardSink>(tensorboard_log_dir(run.directory()), o);
}

// ---- Kill and resume ------------------------------------------------------------------------------

// A child resumes the run and writes steps until it is killed; it reports its first step on `fd`.
[[noreturn]] void write_until_killed(const fs::path& dir, int fd) {
  try {
    trainscope::Run run(options_for(dir));
    run.add_sink(tensorboard_for(run));
    const int64_t first = run.next_step();
    if (::write(fd, &first, sizeof first) != sizeof first) ::_exit(3);
    for (int64_t i = 0; i < 100000; ++i) run.commit(step_record(run.next_step()));
    run.finish();
    ::_exit(0);
  } catch (...) {
    ::_exit(2);
  }
}

TEST(FaultKill, KilledAtSeededRandomPointsAndResumedLosesNothingWritten) {
  const auto dir = fresh_dir("kill");
  std::mt19937 rng(20261201);
  std::uniform_int_distribution<int> delay_us(200, 60000);
  int64_t last_session_start = 0;
  int leftovers = 0;  // temporaries and orphaned media the kills left for resume to clean up
  for (int round = 0; round < 12; ++round) {
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(pipe_fds[0]);
      write_until_killed(dir, pipe_fds[1]);
    }
    ::close(pipe_fds[1]);
    int64_t first = -1;
    ASSERT_EQ(::read(pipe_fds[0], &first, sizeof first), ssize_t(sizeof first)) << "round " << round;
    ::close(pipe_fds[0]);
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "round " << round << ": the writer ended by itself (" << status << ")";
    // Killed, before resuming: whole lines only (a torn tail at most), steps in order.
    VerifyOptions killed;
    killed.allow_torn_tail = true;
    killed.finished = false;
    killed.check_tensorboard = false;
    testing::RunDirContents contents;
    auto problems = verify_run_dir(dir.string(), killed, &contents);
    ASSERT_TRUE(problems.empty()) << "round " << round << ": " << describe(problems);
    leftovers += contents.temporaries + contents.unreferenced_media;
    const int64_t written = contents.rows.empty() ? 0 : contents.rows.back()["_step"].get<int64_t>() + 1;
    ASSERT_GE(written, first) << "a resumed session lost steps that were on disk";
  }
  {
    trainscope::Run run(options_for(dir));
    run.add_sink(tensorboard_for(run));
    last_session_start = run.next_step();
    for (int i = 0; i < 5; ++i) run.commit(step_record(run.next_step()));
    run.finish();
  }
  VerifyOptions done;
  done.tensorboard_complete_from = last_session_start;
  testing::RunDirContents contents;
  auto problems = verify_run_dir(dir.string(), done, &contents);
  EXPECT_TRUE(problems.empty()) << describe(problems);
  EXPECT_EQ(contents.rows.back()["_step"].get<int64_t>(), last_session_start + 4);
  RecordProperty("leftovers_cleaned_by_resume", leftovers);
  std::printf("kills left %d temporaries/orphaned media; resumes removed them\n", leftovers);
  if (!contents.tensorboard_read) GTEST_SKIP() << "TRAINSCOPE_PYTHON is not set: TensorBoard not read back";
}

// ---- A real full disk, and a read-only one --------------------------------------------------------

// A tmpfs of `size` mounted for the test's lifetime (root only; tests skip without it).
class SmallDisk {
 public:
  SmallDisk(const fs::path& at, const char* size) : at_(at) {
    fs::create_directories(at);
    mounted_ = ::mount("tmpfs", at.c_str(), "tmpfs", 0, (std::string("size=") + size).c_str()) == 0;
    if (!mounted_) why_ = std::string("cannot mount a tmpfs (") + std::strerror(errno) + "); needs root";
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(at_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }
  bool make_read_only() const {
    return ::mount("tmpfs", at_.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr) == 0;
  }

 private:
  fs::path at_;
  bool mounted_ = false;
  std::string why_;
};

TEST(FaultDisk, FillingARealDiskLeavesAValidRecord) {
  const auto mount_point = fresh_dir("tmpfs_full");
  SmallDisk disk(mount_point, "64k");
  if (!disk.mounted()) GTEST_SKIP() << disk.why();
  const auto dir = mount_point / "run";
  bool failed = false;
  {
    RunOptions o = options_for(dir);
    trainscope::Run run(o);
    for (int64_t i = 0; i < 400 && !failed; ++i) {
      StepRecord r = step_record(i);
      r.texts["pad"] = std::string(700, 'p');  // fills 64 kB within a few dozen steps
      try {
        run.commit(std::move(r));
        if (i % 10 == 9) run.flush();
      } catch (const Error& e) {
        failed = true;
        EXPECT_NE(std::string(e.what()).find("No space left"), std::string::npos) << e.what();
      }
    }
    try {
      run.finish();
    } catch (const Error&) {
    }
  }
  EXPECT_TRUE(failed) << "64 kB should have filled up";
  VerifyOptions full;
  full.contiguous_steps = false;  // the steps that did not fit are missing
  full.finished = false;          // the last summary may not have fitted either
  testing::RunDirContents contents;
  auto problems = verify_run_dir(dir.string(), full, &contents);
  EXPECT_TRUE(problems.empty()) << describe(problems);
  EXPECT_FALSE(contents.rows.empty());
}

TEST(FaultDisk, AReadOnlyDirectoryWithATornLineIsAClearError) {
  const auto mount_point = fresh_dir("tmpfs_ro");
  SmallDisk disk(mount_point, "1m");
  if (!disk.mounted()) GTEST_SKIP() << disk.why();
  const auto dir = mount_point / "run";
  {
    trainscope::Run run(options_for(dir));
    for (int i = 0; i < 3; ++i) run.commit(step_record(i));
    run.finish();
  }
  std::ofstream(dir / "history.jsonl", std::ios::app) << "{\"_step\":3,\"lo";  // torn by a kill
  ASSERT_TRUE(disk.make_read_only()) << std::strerror(errno);
  try {
    trainscope::Run run(options_for(dir));
    FAIL() << "a read-only run directory cannot be resumed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("torn line"), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    FAIL() << "not a trainscope::Error: " << e.what();
  }
}

// ---- Invalid UTF-8 against TensorBoard's reader ---------------------------------------------------

TEST(FaultUtf8, RejectedEverywhereSoTensorBoardStaysReadable) {
  const auto dir = fresh_dir("utf8") / "run";
  {
    trainscope::Run run(options_for(dir));
    run.add_sink(tensorboard_for(run));
    run.commit(step_record(0));
    const std::vector<std::function<void(StepRecord&)>> bad = {
        [](StepRecord& r) { r.scalars["loss\xff"] = 1; },
        [](StepRecord& r) { r.histograms["w\xc0\xaf"] = HistogramValue{{1}, {0, 1}, 1, 0, 1, 0, 0}; },
        [](StepRecord& r) { r.images["ex\xed\xa0\x80"] = {tiny_image(1)}; },
        [](StepRecord& r) { r.images["examples"] = {tiny_image(1)}; r.images["examples"][0].caption = "\xfe"; },
        [](StepRecord& r) { r.texts["note"] = "\xe2\x82"; },
    };
    for (size_t i = 0; i < bad.size(); ++i) {
      StepRecord r = step_record(1);
      bad[i](r);
      EXPECT_THROW(run.commit(std::move(r)), Error) << "case " << i;
    }
    // Tables become JSON files on the writer thread: they must be refused at commit as well.
    StepRecord column = step_record(1), cell = step_record(1);
    column.tables["eval"] = TableValue{{"i\xff"}, {{int64_t(1)}}};
    cell.tables["eval"] = TableValue{{"id"}, {{std::string("\x80")}}};
    expect_error([&] { run.commit(std::move(column)); }, "table 'eval': column 0 'i\\xff'");
    expect_error([&] { run.commit(std::move(cell)); }, "table 'eval': row 0 cell 0 '\\x80'");
    try {
      run.flush();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "no bad value may reach the writer: " << e.what();
    }
    StepRecord unicode = step_record(1);
    unicode.scalars["gr\xc3\xb6\xc3\x9f" "e/\xce\xbc"] = 2.5;
    unicode.texts["emoji"] = "\xf0\x9f\x98\x80";
    run.commit(std::move(unicode));
    run.finish();
  }
  testing::RunDirContents contents;
  auto problems = verify_run_dir(dir.string(), {}, &contents);
  EXPECT_TRUE(problems.empty()) << describe(problems);
  ASSERT_EQ(contents.rows.size(), 2u);
  if (!contents.tensorboard_read) GTEST_SKIP() << "TRAINSCOPE_PYTHON is not set: TensorBoard not read back";
  EXPECT_TRUE(contents.tensorboard["scalars"].contains("gr\xc3\xb6\xc3\x9f" "e/\xce\xbc"));
}

// ---- Upload: damaged state, temporaries, servers that lie -----------------------------------------

const std::string kApiKey = "ts-fault-key-00112233445566778899aabbccddeeff";

class FaultUpload : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = testing::make_temp_dir("fault-upload");
    server_ = std::make_unique<testing::FakeWandbServer>(work_, kApiKey);
  }
  void TearDown() override {
    server_.reset();
    if (!HasFailure()) testing::remove_tree(work_);
  }
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
    o.retry.max_elapsed_seconds = 10;
    o.poll_interval_seconds = 0.02;
    o.max_request_bytes = 4096;
    return o;
  }
  // The server holds every complete history line exactly once, in order.
  void expect_history_uploaded(const std::string& run) {
    const json state = server_->state();
    const auto lines = testing::complete_history_lines(run);
    ASSERT_EQ(state["history"].size(), lines.size());
    for (size_t i = 0; i < lines.size(); ++i) ASSERT_EQ(state["history"][i].get<std::string>(), lines[i]) << i;
    EXPECT_TRUE(state["gaps"].empty()) << state["gaps"];
    EXPECT_TRUE(state["conflicts"].empty()) << state["conflicts"];
    EXPECT_TRUE(state["complete"].get<bool>());
  }
  std::string work_;
  std::unique_ptr<testing::FakeWandbServer> server_;
};

TEST_F(FaultUpload, ACaptivePortalAnswering200HtmlIsNotAnAcknowledgement) {
  const auto run = testing::make_run(work_ + "/runs", "run-html", 60);
  server_->add_faults(json::array({{{"path", "/files/"}, {"action", "html"}, {"count", 3}, {"skip", 1}}}));
  sync_run(run, options(), 0);
  expect_history_uploaded(run);
}

TEST_F(FaultUpload, ATruncatedJsonAnswerIsRetriedWithoutDuplicates) {
  const auto run = testing::make_run(work_ + "/runs", "run-truncated", 60);
  server_->add_faults(json::array({{{"path", "/files/"}, {"action", "truncated"}, {"count", 2}, {"skip", 1}},
                                   {{"path", "/graphql"}, {"action", "truncated"}, {"count", 1}}}));
  sync_run(run, options(), 0);
  expect_history_uploaded(run);
  EXPECT_GT(server_->state()["resent_lines"].get<int>(), 0) << "the truncated answers' lines were sent again";
}

TEST_F(FaultUpload, AServerThatKeepsAnsweringHtmlGivesAClearError) {
  const auto run = testing::make_run(work_ + "/runs", "run-portal", 10);
  server_->add_faults(json::array({{{"path", "/files/"}, {"action", "html"}, {"count", 1000}}}));
  UploadOptions o = options();
  o.retry.max_elapsed_seconds = 0.5;
  expect_error([&] { sync_run(run, o, 0); }, "not W&B's JSON answer");
  const json saved = json::parse(testing::read_file(run + "/upload/wandb-state.json"));
  EXPECT_EQ(saved["server_lines"], 0) << "nothing was acknowledged";
}

TEST_F(FaultUpload, AnEchoedAuthorizationHeaderNeverReachesTheError) {
  const auto run = testing::make_run(work_ + "/runs", "run-echo", 5);
  server_->add_faults(json::array({{{"path", "/graphql"}, {"action", "echo_auth"}, {"count", 1}}}));
  try {
    sync_run(run, options(), 0);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string message = e.what();
    // What the client sent, computed independently: base64("api:" + key) (Python's base64).
    const std::string basic = "YXBpOnRzLWZhdWx0LWtleS0wMDExMjIzMzQ0NTU2Njc3ODg5OWFhYmJjY2RkZWVmZg==";
    for (const std::string& leak : {kApiKey, basic, basic.substr(0, 24), std::string("api:ts-")})
      EXPECT_EQ(message.find(leak), std::string::npos) << message;
    EXPECT_NE(message.find("401"), std::string::npos) << message;
    const auto said = message.find("server said: ");
    ASSERT_NE(said, std::string::npos) << message;
    EXPECT_LE(message.size() - said, std::string("server said: ").size() + 200 + std::string("...)").size())
        << "server bodies are cut to 200 characters in messages: " << message;
  }
}

TEST_F(FaultUpload, ATruncatedUploadStateStopsWithoutSendingAnything) {
  const auto run = testing::make_run(work_ + "/runs", "run-state", 20);
  sync_run(run, options(), 0);
  const std::string state_path = run + "/upload/wandb-state.json";
  const std::string text = testing::read_file(state_path);
  testing::write_file(state_path, text.substr(0, text.size() / 2));
  const int before = int(server_->state()["history_receipts"].get<int>());
  expect_error([&] { sync_run(run, options(), 0); }, "wandb-state.json");
  EXPECT_EQ(server_->state()["history_receipts"].get<int>(), before);
}

TEST_F(FaultUpload, AnUploadStateOffsetInsideALineIsRefused) {
  const auto run = testing::make_run(work_ + "/runs", "run-offset", 20);
  fs::create_directories(run + "/upload");
  testing::write_file(run + "/upload/wandb-state.json",
                      json{{"run_path", "team/proj/run-offset"}, {"history_bytes", 7}, {"history_lines", 1},
                           {"server_lines", 1}, {"files", json::object()}}.dump());
  expect_error([&] { sync_run(run, options(), 0); }, "line boundary");
  EXPECT_EQ(server_->state()["history_receipts"].get<int>(), 0);
}

TEST_F(FaultUpload, TemporariesAreNeverUploaded) {
  const auto run = testing::make_run(work_ + "/runs", "run-tmp", 5);
  testing::write_file(run + "/checkpoints/model-best.pt.tmp-12345", "half a checkpoint");
  testing::write_file(run + "/media/images/x_1_0123456789abcdef0123.png.tmp-999", "half a png");
  sync_run(run, options(), 0);
  const json files = server_->state()["files"];
  EXPECT_FALSE(files.contains("checkpoints/model-best.pt.tmp-12345")) << files;
  EXPECT_FALSE(files.contains("media/images/x_1_0123456789abcdef0123.png.tmp-999")) << files;
  EXPECT_TRUE(files.contains("checkpoints/model-best.pt")) << files;
}

}  // namespace
}  // namespace trainscope
