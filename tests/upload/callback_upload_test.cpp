// The Callback's upload option (docs/upload.md#upload-modes) against the W&B-protocol server on
// loopback (fake_wandb_server.py): online sends the run while it trains and completes it at
// on_train_end; offline and disabled send nothing; WANDB_MODE chooses when the option does not;
// a server that is down never slows a training step, and on_train_end returns within the bound.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "trainscope/error.h"
#include <torch/version.h>

#include "trainscope/torch/callback.h"
#include "trainscope/upload/live_upload.h"
#include "upload/fake_server.h"
#include "upload/run_fixture.h"

namespace trainscope::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::string kApiKey = "ts-test-key-0123456789abcdef0123456789abcdef";

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Sets an environment variable for one test, restoring the old value after it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A loopback port nobody listens on: connections are refused, as for a server that is down.
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class CallbackUpload : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = make_temp_dir("callback-upload");
    server_ = std::make_unique<FakeWandbServer>(work_, kApiKey);
  }
  void TearDown() override {
    server_.reset();
    // Not remove_tree(): libtorch exports a std::filesystem::remove_all that crashes on full folders.
    if (!HasFailure() && std::system(("rm -rf '" + work_ + "'").c_str()) != 0) ADD_FAILURE() << "cannot remove " << work_;
  }

  CallbackOptions options(const std::string& name, UploadMode mode) const {
    CallbackOptions o;
    o.run.directory = work_ + "/runs/" + name;
    o.predictions = 0;
    o.tensorboard = false;
    o.log = [this](const std::string& line) { lines_.push_back(line); };
    o.warn = [this](const std::string& line) { warnings_.push_back(line); };
    o.upload.mode = mode;
    o.upload.base_url = server_->base_url();
    o.upload.api_key = kApiKey;
    o.upload.entity = "team";
    o.upload.project = "proj";
    o.upload.request_timeout_seconds = 2;
    o.upload.connect_timeout_seconds = 1;
    o.upload.retry.initial_delay_seconds = 0.01;
    o.upload.retry.max_delay_seconds = 0.05;
    o.upload.poll_interval_seconds = 0.05;
    o.upload.system_metrics_interval_seconds = 0.2;
    return o;
  }

  // A small training loop: 3 epochs of 4 batches.
  static void train(Callback& callback) {
    callback.on_train_begin();
    int64_t step = 0;
    for (int epoch = 0; epoch < 3; ++epoch) {
      for (int b = 0; b < 4; ++b, ++step) callback.on_batch_end(step, {{"loss", 1.0 / double(step + 1)}});
      callback.on_epoch_end(epoch, {{"val_loss", 1.0 / double(epoch + 1)}});
    }
    callback.on_train_end();
  }

  static std::vector<std::string> history_lines(const std::string& dir) {
    std::ifstream in(dir + "/history.jsonl");
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  std::string work_;
  std::unique_ptr<FakeWandbServer> server_;
  mutable std::vector<std::string> lines_, warnings_;
};

TEST_F(CallbackUpload, OnlineUploadsTheRunWhileTrainingAndCompletesIt) {
  auto o = options("online", UploadMode::Online);
  const std::string dir = o.run.directory;
  torch::nn::Linear model(2, 1);
  {
    Callback callback(o);
    callback.set_model(model);
    train(callback);
  }
  const json state = server_->state();
  // History: every line of history.jsonl once, in order.
  const auto lines = history_lines(dir);
  ASSERT_EQ(lines.size(), 3u) << "epoch rows land on the batch steps";
  ASSERT_EQ(state["history"].size(), lines.size());
  for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(state["history"][i].get<std::string>(), lines[i]);
  EXPECT_TRUE(state["complete"].get<bool>());
  EXPECT_EQ(state["exitcode"], 0);
  // Summary and config.
  json summary = json::parse(read_file(dir + "/summary.json"));
  EXPECT_EQ(state["summary"]["best_val_loss"], summary["best_val_loss"]);
  ASSERT_FALSE(state["upserts"].empty());
  EXPECT_EQ(state["upserts"][0]["config"]["trainscope.monitor"]["value"], "val_loss");
  // Files: the checkpoint, graph, metadata (with libtorch's version), output.log and config.yaml.
  for (const char* name : {"checkpoints/model-best.pt", "trainscope-graph.json", "wandb-metadata.json",
                           "output.log", "config.yaml"})
    EXPECT_TRUE(state["files"].contains(name)) << name << " was not uploaded: " << state["files"].dump();
  const json meta = json::parse(read_file(server_->store_dir() + "/wandb-metadata.json"));
  EXPECT_TRUE(meta["trainscope"]["libtorch"].is_string()) << meta.dump();
  EXPECT_EQ(meta["trainscope"]["libtorch"], std::to_string(TORCH_VERSION_MAJOR) + "." +
                                                std::to_string(TORCH_VERSION_MINOR) + "." +
                                                std::to_string(TORCH_VERSION_PATCH));
  // The uploaded output.log holds the console's start and end lines.
  const std::string log = read_file(server_->store_dir() + "/output.log");
  EXPECT_NE(log.find("run " + fs::canonical(dir).string()), std::string::npos) << log;
  EXPECT_NE(log.find("best val_loss"), std::string::npos) << log;
  EXPECT_FALSE(state["events"].empty()) << "system metrics were not streamed";
  // The console names the run's page, at start and at the end.
  ASSERT_EQ(lines_.size(), 2u);
  const std::string url = server_->base_url() + "/team/proj/runs/online";
  EXPECT_NE(lines_[0].find("W&B: " + url), std::string::npos) << lines_[0];
  EXPECT_NE(lines_[1].find("W&B: " + url), std::string::npos) << lines_[1];
  EXPECT_TRUE(warnings_.empty()) << warnings_[0];
}

TEST_F(CallbackUpload, OfflineSendsNothingAndLeavesTheMetadataForSync) {
  auto o = options("offline", UploadMode::Offline);
  {
    Callback callback(o);
    train(callback);
  }
  const json state = server_->state();
  EXPECT_TRUE(state["requests"].empty()) << state["requests"].dump();
  const std::string dir = o.run.directory;
  ASSERT_TRUE(fs::exists(dir + "/wandb-metadata.json"));
  const std::string metadata = read_file(dir + "/wandb-metadata.json");
  EXPECT_TRUE(fs::exists(dir + "/output.log"));
  EXPECT_FALSE(fs::exists(dir + "/upload"));
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_NE(lines_[1].find("trainscope sync " + fs::canonical(dir).string()), std::string::npos) << lines_[1];

  // A later sync uploads the metadata the training process wrote, unchanged.
  UploadOptions sync_options = o.upload;
  sync_run(dir, sync_options);
  EXPECT_EQ(read_file(dir + "/wandb-metadata.json"), metadata);
  EXPECT_EQ(read_file(server_->store_dir() + "/wandb-metadata.json"), metadata);
  EXPECT_EQ(server_->state()["history"].size(), history_lines(dir).size());
}

TEST_F(CallbackUpload, DisabledSendsAndRecordsNothingForWandb) {
  auto o = options("disabled", UploadMode::Disabled);
  {
    Callback callback(o);
    train(callback);
  }
  EXPECT_TRUE(server_->state()["requests"].empty());
  EXPECT_FALSE(fs::exists(o.run.directory + "/wandb-metadata.json"));
  EXPECT_FALSE(fs::exists(o.run.directory + "/wandb-events.jsonl"));
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_EQ(lines_[1].find("trainscope sync"), std::string::npos) << lines_[1];
}

TEST_F(CallbackUpload, WandbModeChoosesWhenTheOptionDoesNot) {
  {
    ScopedEnv mode("WANDB_MODE", "disabled");
    EXPECT_EQ(resolve_upload_mode(UploadMode::Environment), UploadMode::Disabled);
    EXPECT_EQ(resolve_upload_mode(UploadMode::Online), UploadMode::Online);  // the option wins
  }
  {
    ScopedEnv mode("WANDB_MODE", "dryrun");
    EXPECT_EQ(resolve_upload_mode(UploadMode::Environment), UploadMode::Offline);
  }
  {
    ScopedEnv mode("WANDB_MODE", nullptr);
    EXPECT_EQ(resolve_upload_mode(UploadMode::Environment), UploadMode::Offline);
  }
  {
    ScopedEnv mode("WANDB_MODE", "sometimes");
    EXPECT_THROW(resolve_upload_mode(UploadMode::Environment), Error);
  }
  // WANDB_MODE=ONLINE with WANDB_PROJECT / WANDB_ENTITY / WANDB_API_KEY from the environment.
  ScopedEnv mode("WANDB_MODE", "ONLINE");
  ScopedEnv project("WANDB_PROJECT", "envproj");
  ScopedEnv entity("WANDB_ENTITY", "envteam");
  ScopedEnv key("WANDB_API_KEY", kApiKey.c_str());
  auto o = options("from-env", UploadMode::Environment);
  o.upload.project.clear();
  o.upload.entity.clear();
  o.upload.api_key.clear();
  {
    Callback callback(o);
    train(callback);
  }
  const json state = server_->state();
  ASSERT_FALSE(state["upserts"].empty());
  EXPECT_EQ(state["upserts"][0]["project"], "envproj");
  EXPECT_EQ(state["upserts"][0]["entity"], "envteam");
  EXPECT_TRUE(state["complete"].get<bool>());
}

TEST_F(CallbackUpload, OnlineWithoutAKeyWarnsAndRecordsOffline) {
  ScopedEnv key("WANDB_API_KEY", nullptr);
  ScopedEnv netrc("NETRC", (work_ + "/no-netrc").c_str());
  auto o = options("no-key", UploadMode::Online);
  o.upload.api_key.clear();
  {
    Callback callback(o);
    train(callback);
  }
  EXPECT_TRUE(server_->state()["requests"].empty());
  ASSERT_FALSE(warnings_.empty());
  EXPECT_NE(warnings_[0].find("online upload not started"), std::string::npos) << warnings_[0];
  EXPECT_TRUE(fs::exists(o.run.directory + "/wandb-metadata.json"));
}

// A server that is down: training steps do not wait for it, and on_train_end returns within
// finish_timeout_seconds (plus about a second for the cancelled request to stop).
TEST_F(CallbackUpload, ServerDownNeverBlocksTraining) {
  auto o = options("down", UploadMode::Online);
  o.upload.base_url = "http://127.0.0.1:" + std::to_string(closed_port());
  o.upload.retry.initial_delay_seconds = 0.2;
  o.upload.retry.max_delay_seconds = 0.5;
  o.upload.retry.max_elapsed_seconds = 600;  // it would keep retrying for minutes
  o.upload.finish_timeout_seconds = 1.5;
  Callback callback(o);
  callback.on_train_begin();
  double slowest = 0;
  for (int64_t step = 0; step < 50; ++step) {
    const auto t = Clock::now();
    callback.on_batch_end(step, {{"loss", 1.0}});
    slowest = std::max(slowest, seconds_since(t));
    if (step % 10 == 9) callback.on_epoch_end(step / 10, {{"val_loss", 1.0}});
  }
  EXPECT_LT(slowest, 0.1) << "a training step waited for the upload";
  const auto t = Clock::now();
  callback.on_train_end();
  const double ended = seconds_since(t);
  EXPECT_GE(ended, 1.4) << "the final pass was not given its time";
  EXPECT_LT(ended, 1.5 + 2.0) << "on_train_end exceeded finish_timeout_seconds";
  ASSERT_FALSE(warnings_.empty());
  EXPECT_NE(warnings_.back().find("trainscope sync"), std::string::npos) << warnings_.back();
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_NE(lines_[1].find("unfinished"), std::string::npos) << lines_[1];
}

// A server that accepts connections but never answers: the same bound.
TEST_F(CallbackUpload, HangingServerIsCancelledAtTheBound) {
  auto o = options("hang", UploadMode::Online);
  o.upload.request_timeout_seconds = 60;
  o.upload.finish_timeout_seconds = 1;
  server_->set_slow(30000);
  Callback callback(o);
  const auto t = Clock::now();
  train(callback);
  EXPECT_LT(seconds_since(t), 1 + 2.0);
  server_->set_slow(0);
  EXPECT_FALSE(server_->state()["complete"].get<bool>());
}

// LiveUpload next to a bare Run, as the Callback uses it.
TEST_F(CallbackUpload, LiveUploadNextToABareRun) {
  RunOptions run_options;
  run_options.directory = work_ + "/runs/bare";
  trainscope::Run run(run_options);
  LiveUploadOptions upload = options("bare", UploadMode::Online).upload;
  LiveUpload live(run.directory(), upload);
  ASSERT_TRUE(live.online());
  EXPECT_EQ(live.url(), server_->base_url() + "/team/proj/runs/bare");
  for (int step = 0; step < 5; ++step) run.log({{"loss", double(step)}});
  run.finish();
  const auto done = live.finish();
  ASSERT_TRUE(done.has_value());
  EXPECT_TRUE(done->complete);
  EXPECT_EQ(server_->state()["history"].size(), 5u);
}

// Masks reach W&B: their PNGs as run files, their class names in the config's _wandb entry; and
// config.yaml holds the config as sent.
TEST_F(CallbackUpload, MasksAndConfigYamlAreUploaded) {
  RunOptions run_options;
  run_options.directory = work_ + "/runs/masks";
  trainscope::Run run(run_options);
  run.set_config({{"lr", 0.5}});
  ImageValue image;
  image.width = 2;
  image.height = 1;
  image.channels = 3;
  image.pixels.assign(6, 9);
  image.masks["predictions"] = MaskValue{{0, 1}, {{0, "bg"}, {1, "cat"}}};
  run.log({{"seg", image}});
  run.finish();
  UploadOptions upload = options("masks", UploadMode::Online).upload;
  sync_run(run.directory(), upload);
  const json state = server_->state();
  std::ifstream in(run.directory() + "/history.jsonl");
  std::string line;
  std::getline(in, line);
  const std::string mask_path = json::parse(line)["seg"]["masks"]["predictions"]["path"];
  ASSERT_TRUE(state["files"].contains(mask_path)) << state["files"].dump();
  EXPECT_EQ(read_file(server_->store_dir() + "/" + mask_path), read_file(run.directory() + "/" + mask_path));
  const json config = state["upserts"].back()["config"];
  EXPECT_EQ(config["_wandb"]["value"]["mask/class_labels"]["seg_wandb_delimeter_predictions"],
            json::parse(R"({"type": "mask/class_labels", "key": "seg_wandb_delimeter_predictions",
                            "value": {"0": "bg", "1": "cat"}})"));
  ASSERT_TRUE(state["files"].contains("config.yaml"));
  const std::string yaml = read_file(server_->store_dir() + "/config.yaml");
  EXPECT_EQ(yaml.rfind("wandb_version: 1\n", 0), 0u) << yaml;
  EXPECT_NE(yaml.find("\"lr\":\n  value: 0.5\n"), std::string::npos) << yaml;
}

TEST(WandbRunUrl, FromTheBaseUrl) {
  ScopedEnv app("WANDB_APP_URL", nullptr);
  EXPECT_EQ(wandb_run_url("https://api.wandb.ai", "e/p/r"), "https://wandb.ai/e/p/runs/r");
  EXPECT_EQ(wandb_run_url("https://wandb.example.com/", "e/p/r"), "https://wandb.example.com/e/p/runs/r");
  EXPECT_EQ(wandb_run_url("https://api.wandb.ai", "/p/r"), "") << "no entity yet: no page";
  ScopedEnv app2("WANDB_APP_URL", "https://app.example.com");
  EXPECT_EQ(wandb_run_url("https://api.wandb.ai", "e/p/r"), "https://app.example.com/e/p/runs/r");
}

}  // namespace
}  // namespace trainscope::testing
