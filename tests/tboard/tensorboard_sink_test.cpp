#include "trainscope/sinks/tensorboard.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include "run/png_codec.h"
#include "sinks/event_file.h"
#include "sinks/event_proto.h"
#include "sinks/markdown.h"
#include "sinks/record_io.h"
#include "trainscope/error.h"

namespace trainscope {
namespace {

namespace fs = std::filesystem;
using detail::decode_event_header;
using detail::EventHeader;

class TensorBoardSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("trainscope_tb_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string log_dir() const { return (dir_ / "tb").string(); }
  fs::path dir_;
};

std::vector<std::string> read_events(const std::string& path, detail::RecordsRead* info = nullptr) {
  std::vector<std::string> events;
  const auto read = detail::read_records(path, [&](std::string_view d) { events.emplace_back(d); });
  if (info) *info = read;
  return events;
}

std::vector<std::string> event_files(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

ImageValue gradient_image(int width, int height, int channels, int seed) {
  ImageValue image;
  image.width = width;
  image.height = height;
  image.channels = channels;
  for (int i = 0; i < width * height * channels; ++i) image.pixels.push_back(uint8_t(i * 13 + seed));
  return image;
}

CommittedStep committed(int64_t step, const StepRecord& record) {
  CommittedStep c;
  c.step = step;
  c.wall_time = 1.7e9 + static_cast<double>(step);
  c.record = &record;
  return c;
}

TEST_F(TensorBoardSinkTest, NewFileIsNamedAndStartsWithTheFileVersion) {
  TensorBoardSink sink(log_dir());
  const std::string name = fs::path(sink.file_path()).filename().string();
  const std::regex pattern(R"(events\.out\.tfevents\.(\d{10})\..+\.(\d+)\.(\d+))");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(name, m, pattern)) << name;
  EXPECT_NEAR(std::stod(m[1].str()), static_cast<double>(std::time(nullptr)), 5.0);
  EXPECT_EQ(std::stol(m[2].str()), static_cast<long>(::getpid()));
  EXPECT_FALSE(sink.resumed());
  EXPECT_FALSE(sink.last_step_before_open().has_value());
  // The first record is on disk before anything is written, so TensorBoard sees the run at once.
  const auto events = read_events(sink.file_path());
  ASSERT_EQ(events.size(), 1u);
  const EventHeader first = decode_event_header(events[0]);
  EXPECT_EQ(first.file_version, "brain.Event:2");
  EXPECT_NEAR(first.wall_time, static_cast<double>(std::time(nullptr)), 5.0);
}

TEST_F(TensorBoardSinkTest, TensorBoardLogDirOfARun) {
  EXPECT_EQ(tensorboard_log_dir("runs/abc"), "runs/abc/tb");
}

// The mapping from a step record to summary values, against summaries built value by value.
TEST_F(TensorBoardSinkTest, OneEventPerStepHoldingEverythingLogged) {
  StepRecord record;
  record.scalars = {{"loss", 0.25}, {"acc", 0.875}};
  HistogramValue h;
  h.counts = {2, 1};
  h.edges = {0.0, 0.5, 1.0};
  h.num = 3;
  h.max = 1.0;
  h.sum = 1.25;
  h.sum_squares = 1.0625;
  record.histograms["parameters/w"] = h;
  record.histograms["gradients/empty"] = HistogramValue{};  // no finite values: no histogram
  ImageValue a = gradient_image(3, 2, 3, 1), b = gradient_image(3, 2, 1, 2);
  a.caption = "cat";
  record.images["examples"] = {a, b};
  record.images["mask"] = {gradient_image(4, 4, 3, 3)};
  record.texts["notes"] = "# hello";
  record.tables["eval"] = TableValue{{"i", "label"}, {{int64_t{0}, std::string("cat")}}};

  {
    TensorBoardSink sink(log_dir(), TensorBoardOptions{0.0});
    sink.write(committed(4, record));
    sink.close();
    const auto events = read_events(sink.file_path());
    ASSERT_EQ(events.size(), 3u);  // file version, session start, the step
    EXPECT_EQ(events[1], detail::encode_session_start_event(1.7e9 + 4, 4));

    detail::SummaryBuilder expected;
    expected.add_scalar("acc", 0.875f);
    expected.add_scalar("loss", 0.25f);
    expected.add_histogram("parameters/w", h);
    expected.add_image("examples/0", 2, 3, 3, detail::encode_png(a));
    expected.add_image("examples/1", 2, 3, 1, detail::encode_png(b));
    expected.add_text("examples/captions", "| image | caption |\n| --- | --- |\n| examples/0 | cat |\n");
    expected.add_image("mask", 4, 4, 3, detail::encode_png(record.images["mask"][0]));
    expected.add_text("notes", "# hello");
    expected.add_text("eval", "| i | label |\n| --- | --- |\n| 0 | cat |\n");
    EXPECT_EQ(events[2], detail::encode_summary_event(1.7e9 + 4, 4, expected));
  }
}

TEST_F(TensorBoardSinkTest, StoredPngIsWrittenAsIs) {
  StepRecord record;
  record.images["x"] = {gradient_image(2, 2, 3, 0)};
  CommittedStep step = committed(0, record);
  const std::vector<uint8_t> stored = {0x89, 'P', 'N', 'G', 1, 2, 3, 4};  // the run's bytes
  step.images["x"] = {StoredImage{&record.images["x"][0], "media/images/x.png", stored}};
  TensorBoardSink sink(log_dir(), TensorBoardOptions{0.0});
  sink.write(step);
  sink.close();
  detail::SummaryBuilder expected;
  expected.add_image("x", 2, 2, 3, stored);
  EXPECT_EQ(read_events(sink.file_path()).at(2), detail::encode_summary_event(1.7e9, 0, expected));
}

TEST_F(TensorBoardSinkTest, StepsMustIncrease) {
  StepRecord record;
  record.scalars["loss"] = 1.0;
  TensorBoardSink sink(log_dir(), TensorBoardOptions{0.0});
  sink.write(committed(5, record));
  EXPECT_THROW(sink.write(committed(5, record)), Error);
  try {
    sink.write(committed(3, record));
    FAIL() << "expected trainscope::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("step"), std::string::npos) << e.what();
  }
  sink.write(committed(6, record));
  sink.close();
  EXPECT_EQ(read_events(sink.file_path()).size(), 4u);  // version, start, 5, 6
}

TEST_F(TensorBoardSinkTest, BadArgumentsAreErrors) {
  EXPECT_THROW(TensorBoardSink(""), Error);
  EXPECT_THROW(TensorBoardSink(log_dir(), TensorBoardOptions{-1.0}), Error);
  fs::create_directories(dir_);
  std::ofstream(dir_ / "plain_file") << "x";
  EXPECT_THROW(TensorBoardSink((dir_ / "plain_file").string()), Error);
  TensorBoardSink sink(log_dir());
  CommittedStep no_record;
  EXPECT_THROW(sink.write(no_record), Error);
  StepRecord record;
  record.histograms["h"].counts = {1, 2, 3};
  record.histograms["h"].edges = {0, 1};
  EXPECT_THROW(sink.write(committed(0, record)), Error);
}

TEST_F(TensorBoardSinkTest, ClosedSinkRefusesWritesAndCloseIsIdempotent) {
  StepRecord record;
  record.scalars["loss"] = 1.0;
  TensorBoardSink sink(log_dir());
  sink.write(committed(0, record));
  sink.close();
  sink.close();
  sink.flush();
  EXPECT_THROW(sink.write(committed(1, record)), Error);
  EXPECT_EQ(read_events(sink.file_path()).size(), 3u);  // close wrote the buffered step
}

TEST_F(TensorBoardSinkTest, FlushIntervalZeroWritesThrough) {
  StepRecord record;
  record.scalars["loss"] = 1.0;
  TensorBoardSink sink(log_dir(), TensorBoardOptions{0.0});
  sink.write(committed(0, record));
  EXPECT_EQ(read_events(sink.file_path()).size(), 3u);
}

TEST_F(TensorBoardSinkTest, EventsWaitInTheBufferUntilFlushed) {
  StepRecord record;
  record.scalars["loss"] = 1.0;
  TensorBoardSink sink(log_dir(), TensorBoardOptions{3600.0});
  sink.write(committed(0, record));
  sink.write(committed(1, record));
  EXPECT_EQ(read_events(sink.file_path()).size(), 1u);
  sink.flush();
  EXPECT_EQ(read_events(sink.file_path()).size(), 4u);
}

TEST_F(TensorBoardSinkTest, LargeBuffersAreFlushedAtOnce) {
  StepRecord record;
  record.images["big"] = {gradient_image(64, 64, 3, 0)};
  std::mt19937 noise(1);  // incompressible pixels: the PNG is larger than the limit
  for (auto& p : record.images["big"][0].pixels) p = static_cast<uint8_t>(noise());
  TensorBoardOptions options;
  options.flush_interval_seconds = 3600.0;
  options.max_buffered_bytes = 1024;
  TensorBoardSink sink(log_dir(), options);
  sink.write(committed(0, record));
  EXPECT_EQ(read_events(sink.file_path()).size(), 3u);
}

TEST_F(TensorBoardSinkTest, BackgroundFlushKeepsTheFileCurrent) {
  StepRecord record;
  record.scalars["loss"] = 1.0;
  TensorBoardSink sink(log_dir(), TensorBoardOptions{0.5});
  const auto written = std::chrono::steady_clock::now();
  sink.write(committed(0, record));
  size_t seen = read_events(sink.file_path()).size();
  const auto checked = std::chrono::steady_clock::now();
  if (checked - written < std::chrono::milliseconds(400)) EXPECT_EQ(seen, 1u);  // not yet due
  const auto deadline = written + std::chrono::seconds(20);
  while (seen < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    seen = read_events(sink.file_path()).size();
  }
  EXPECT_EQ(seen, 3u) << "the background flush did not write the step";
}

// A failing background flush (here: the file size limit) is reported on the next call, and
// nothing is lost once writing works again.
TEST_F(TensorBoardSinkTest, BackgroundFlushErrorsAreReportedOnTheNextCall) {
  StepRecord record;
  record.images["big"] = {gradient_image(64, 64, 3, 0)};
  std::mt19937 noise(2);
  for (auto& p : record.images["big"][0].pixels) p = static_cast<uint8_t>(noise());
  TensorBoardSink sink(log_dir(), TensorBoardOptions{0.05});

  rlimit original{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &original), 0);
  const auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);  // get EFBIG instead of a signal
  rlimit limited = original;
  limited.rlim_cur = fs::file_size(sink.file_path()) + 100;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
  sink.write(committed(0, record));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // the flush is due after 50 ms
  std::string message;
  try {
    sink.flush();
  } catch (const Error& e) {
    message = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &original);
  std::signal(SIGXFSZ, previous_handler);
  EXPECT_NE(message.find("background flush failed"), std::string::npos) << message;

  sink.close();  // writes the rest
  detail::RecordsRead info;
  EXPECT_EQ(read_events(sink.file_path(), &info).size(), 3u);
  EXPECT_EQ(info.end, detail::RecordsEnd::Clean);
}

// A run that crashed mid-record and resumes from a checkpoint at step 6.
TEST_F(TensorBoardSinkTest, ResumeToleratesATruncatedRecordAndRestartsAtTheFirstStep) {
  StepRecord record;
  std::string first_file;
  {
    TensorBoardSink sink(log_dir(), TensorBoardOptions{0.0});
    first_file = sink.file_path();
    for (int64_t s = 0; s < 10; ++s) {
      record.scalars["loss"] = 1.0 / (1 + s);
      sink.write(committed(s, record));
    }
    sink.close();
  }
  fs::resize_file(first_file, fs::file_size(first_file) - 5);  // step 9 cut short

  const detail::PriorEvents before = detail::scan_event_directory(log_dir());
  EXPECT_EQ(before.files, std::vector<std::string>{first_file});
  EXPECT_EQ(before.last_step, 8);
  EXPECT_TRUE(before.damaged_tail);
  EXPECT_EQ(before.events, 11u);  // file version, session start, steps 0..8
  EXPECT_TRUE(before.has_session_start);

  TensorBoardSink sink(log_dir(), TensorBoardOptions{0.0});
  EXPECT_TRUE(sink.resumed());
  EXPECT_EQ(sink.last_step_before_open(), 8);
  EXPECT_NE(sink.file_path(), first_file);
  EXPECT_GT(fs::path(sink.file_path()).filename(), fs::path(first_file).filename());
  for (int64_t s = 6; s < 8; ++s) {
    record.scalars["loss"] = 10.0 + s;
    sink.write(committed(s, record));
  }
  sink.close();

  const auto events = read_events(sink.file_path());
  ASSERT_EQ(events.size(), 4u);
  const EventHeader start = decode_event_header(events[1]);
  EXPECT_TRUE(start.is_session_start);
  EXPECT_EQ(start.step, 6);
  EXPECT_EQ(decode_event_header(events[2]).step, 6);
  EXPECT_EQ(decode_event_header(events[3]).step, 7);
  // The purge at 6 hides the old steps 6..8: a reader now ends at 7.
  const detail::PriorEvents after = detail::scan_event_directory(log_dir());
  EXPECT_EQ(after.files.size(), 2u);
  EXPECT_EQ(after.last_step, 7);
}

TEST_F(TensorBoardSinkTest, NewFileSortsAfterFilesFromOtherWritersInTheSameSecond) {
  fs::create_directories(log_dir());
  const int64_t later = static_cast<int64_t>(std::time(nullptr)) + 100;
  const std::string other = (fs::path(log_dir()) / detail::event_file_name(later, "zzz", 99999, 0)).string();
  std::string bytes;
  detail::append_record(bytes, detail::encode_file_version_event(static_cast<double>(later)));
  std::ofstream(other, std::ios::binary) << bytes;

  TensorBoardSink sink(log_dir(), TensorBoardOptions{0.0});
  EXPECT_TRUE(sink.resumed());
  EXPECT_FALSE(sink.last_step_before_open().has_value());
  EXPECT_GT(fs::path(sink.file_path()).filename().string(), fs::path(other).filename().string());
  EXPECT_EQ(event_files(log_dir()).back(), sink.file_path());

  // That file has no SessionLog START: this session writes two, so that TensorBoard (which takes
  // a run's first START as its beginning) still sees a restart.
  StepRecord record;
  record.scalars["x"] = 1;
  sink.write(committed(3, record));
  const auto events = read_events(sink.file_path());
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[1], detail::encode_session_start_event(1.7e9 + 3, 3));
  EXPECT_EQ(events[2], events[1]);
  EXPECT_EQ(decode_event_header(events[3]).step, 3);
}

}  // namespace
}  // namespace trainscope
