// Fault handling of the pieces, without servers or subprocesses: UTF-8 validation at the API, an
// append that fails part-way (injected), resume cleanup and recovery, the uploader's view of
// temporaries, secret scrubbing and upload offsets.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/utf8.h"
#include "run/file_io.h"
#include "run/resume_cleanup.h"
#include "support/expect_error.h"
#include "support/run_dir_verifier.h"
#include "trainscope/error.h"
#include "trainscope/run/run.h"
#include "upload/history_reader.h"
#include "upload/http_client.h"
#include "upload/run_files.h"

namespace trainscope {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test_support::expect_error;
using testing::describe;
using testing::verify_run_dir;

fs::path test_root() { return fs::temp_directory_path() / ("trainscope_fault_unit_" + std::to_string(::getpid())); }

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
  fs::create_directories(dir.parent_path());
  return dir;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

RunOptions options_for(const fs::path& dir) {
  RunOptions options;
  options.directory = dir.string();
  options.durability.fsync_replaced_files = false;
  return options;
}

StepRecord scalars(double loss) {
  StepRecord r;
  r.scalars["loss"] = loss;
  return r;
}

// A step rejected by the writer leaves a gap in _step (its number was handed out at commit).
testing::VerifyOptions steps_may_have_gaps() {
  testing::VerifyOptions options;
  options.contiguous_steps = false;
  return options;
}

// Lifts the injected disk-full limit whatever the test does.
struct WriteLimit {
  explicit WriteLimit(int64_t bytes) { detail::inject_write_limit(bytes); }
  ~WriteLimit() { detail::inject_write_limit(-1); }
};

// ---- UTF-8 ------------------------------------------------------------------------------------

TEST(Utf8, AcceptsWellFormedAndRejectsEveryIllFormedClass) {
  // Valid: ASCII, 2-, 3- and 4-byte forms up to U+10FFFF (RFC 3629 section 4).
  for (const char* ok : {"", "loss", "l\xc3\xa4ngd", "\xe2\x82\xac", "\xed\x9f\xbf", "\xee\x80\x80",
                         "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf"})
    EXPECT_EQ(detail::first_invalid_utf8(ok), std::string::npos) << detail::escape_bytes(ok);
  // Invalid, with the offset of the first bad byte: stray continuation, overlongs, surrogates,
  // above U+10FFFF, F5..FF, truncated sequences.
  const std::vector<std::pair<std::string, size_t>> bad = {
      {"a\x80", 1}, {"\xc0\x80", 0}, {"\xc1\xbf", 0}, {"\xe0\x80\x80", 0}, {"\xe0\x9f\xbf", 0},
      {"\xed\xa0\x80", 0}, {"\xed\xbf\xbf", 0}, {"\xf0\x80\x80\x80", 0}, {"\xf4\x90\x80\x80", 0},
      {"\xf5\x80\x80\x80", 0}, {"\xff", 0}, {"ok\xc3", 2}, {"\xe2\x82", 0}, {"\xf0\x9f\x98", 0},
      {"\xc3\x28", 0}, {"x\xe2\x28\xa1", 1}};
  for (const auto& [text, at] : bad) EXPECT_EQ(detail::first_invalid_utf8(text), at) << detail::escape_bytes(text);
}

TEST(Utf8, ErrorsShowTheBytesEscaped) {
  expect_error([] { detail::check_utf8("bad\xff\\key", "Run::commit", "key"); },
               "Run::commit: key 'bad\\xff\\\\key': expected UTF-8 text, invalid byte 0xff at offset 3");
}

TEST(RunUtf8, EveryStringThatEntersAStepIsChecked) {
  auto dir = fresh_dir("utf8");
  trainscope::Run run(options_for(dir));
  auto commit = [&](StepRecord r) { run.commit(std::move(r)); };
  StepRecord r1;
  r1.scalars["acc\xff"] = 1;
  expect_error([&] { commit(r1); }, "key 'acc\\xff'");
  StepRecord r2;  // two invalid keys no longer merge into one "\ufffd"
  r2.scalars["a\xfe"] = 1;
  r2.scalars["a\xff"] = 2;
  expect_error([&] { commit(r2); }, "key 'a\\xfe'");
  StepRecord r3;
  r3.texts["note"] = "caf\xe9";
  expect_error([&] { commit(r3); }, "text 'note': value 'caf\\xe9'");
  StepRecord r4;
  r4.images["examples"] = {ImageValue{1, 1, 3, {1, 2, 3}, "\xc0\xaf"}};
  expect_error([&] { commit(r4); }, "images 'examples'[0]: caption '\\xc0\\xaf'");
  StepRecord r5;
  r5.tables["eval"] = TableValue{{"id", "pr\xe9"}, {{int64_t(1), 0.5}}};
  expect_error([&] { commit(r5); }, "table 'eval': column 1 'pr\\xe9'");
  StepRecord r6;
  r6.tables["eval"] = TableValue{{"id", "label"}, {{int64_t(1), std::string("ok")}, {int64_t(2), std::string("\xed\xa0\x80")}}};
  expect_error([&] { commit(r6); }, "table 'eval': row 1 cell 1 '\\xed\\xa0\\x80'");
  expect_error([&] { run.set_config({{"opt\xff", 1.0}}); }, "Run::set_config: key 'opt\\xff'");
  expect_error([&] { run.set_config({{"optimizer", std::string("s\xffgd")}}); }, "value of 'optimizer'");
  expect_error([&] { run.set_summary("best\xff", 1.0); }, "Run::set_summary: key 'best\\xff'");
  StepRecord good;
  good.scalars["l\xc3\xa4ngd"] = 3;
  good.tables["eval"] = TableValue{{"id", "\xe2\x82\xac"}, {{int64_t(1), std::string("\xf0\x9f\x98\x80")}}};
  run.commit(std::move(good));
  run.finish();
  testing::RunDirContents contents;
  auto problems = verify_run_dir(dir.string(), {}, &contents);
  EXPECT_TRUE(problems.empty()) << describe(problems);
  ASSERT_EQ(contents.rows.size(), 1u) << "rejected steps must not be written";
  EXPECT_EQ(contents.rows[0]["l\xc3\xa4ngd"], 3);
}

// A value the writer thread fills in (a deferred device result, a row processor) is checked there,
// and the error surfaces on the next call.
struct BadDeferredKey : PendingPart {
  void resolve(StepRecord& record) override { record.texts["label"] = "\xff\xfe"; }
};

TEST(RunUtf8, DeferredValuesAreCheckedOnTheWriterThread) {
  auto dir = fresh_dir("utf8_deferred");
  trainscope::Run run(options_for(dir));
  std::vector<std::unique_ptr<PendingPart>> parts;
  parts.push_back(std::make_unique<BadDeferredKey>());
  run.commit(scalars(1), std::move(parts));
  expect_error([&] { run.flush(); }, "text 'label': value '\\xff\\xfe'");
  run.commit(scalars(2));
  run.finish();
  auto problems = verify_run_dir(dir.string(), steps_may_have_gaps());
  EXPECT_TRUE(problems.empty()) << describe(problems);
}

// ---- Disk full in the middle of history.jsonl ---------------------------------------------------

TEST(AppendFile, AFailedAppendLeavesNoPartialLine) {
  auto dir = fresh_dir("append");
  fs::create_directories(dir);
  const std::string path = (dir / "history.jsonl").string();
  detail::AppendFile file(path);
  file.append("{\"_step\":0}\n");
  {
    WriteLimit full(5);  // 5 bytes fit, then ENOSPC
    expect_error([&] { file.append("{\"_step\":1,\"loss\":0.5}\n"); }, "No space left on device");
  }
  EXPECT_EQ(slurp(path), "{\"_step\":0}\n") << "the partial bytes must be cut off";
  file.append("{\"_step\":2}\n");
  EXPECT_EQ(slurp(path), "{\"_step\":0}\n{\"_step\":2}\n");
  EXPECT_EQ(file.size(), int64_t(slurp(path).size()));
}

TEST(RunDiskFull, AFailedAppendSurfacesAndTheNextLineIsWhole) {
  auto dir = fresh_dir("disk_full");
  trainscope::Run run(options_for(dir));
  run.commit(scalars(1));
  run.flush();
  StepRecord big = scalars(2);
  big.texts["notes"] = std::string(3000, 'x');
  big.tables["eval"] = TableValue{{"a"}, {{int64_t(1)}}};  // its media file is written first
  {
    // The table file (~30 bytes) fits; the 3 kB line does not.
    WriteLimit full(1000);
    run.commit(std::move(big));
    expect_error([&] { run.flush(); }, "history.jsonl");
  }
  run.commit(scalars(3));
  run.finish();
  testing::RunDirContents contents;
  auto problems = verify_run_dir(dir.string(), steps_may_have_gaps(), &contents);
  EXPECT_TRUE(problems.empty()) << describe(problems);  // no fragment, no orphaned table file
  ASSERT_EQ(contents.rows.size(), 2u);
  EXPECT_EQ(contents.rows[0]["_step"], 0);
  EXPECT_EQ(contents.rows[1]["_step"], 2);
  EXPECT_TRUE(fs::is_empty(dir / "media/table"));
}

TEST(RunDiskFull, TheErrorSurfacesOnTheNextCommit) {
  auto dir = fresh_dir("disk_full_commit");
  trainscope::Run run(options_for(dir));
  {
    WriteLimit full(0);
    run.commit(scalars(1));
    // The writer fails in the background; a later commit reports it (it may take a moment).
    bool thrown = false;
    for (int i = 0; i < 2000 && !thrown; ++i) {
      try {
        run.commit(scalars(2));
        ::usleep(1000);
      } catch (const Error& e) {
        thrown = std::string(e.what()).find("history.jsonl") != std::string::npos;
      }
    }
    EXPECT_TRUE(thrown);
  }
  try {
    run.finish();
  } catch (const Error&) {  // later steps failed as well while the disk was full
  }
}

// ---- Resume: torn tail, temporaries, orphaned media, damaged summary -----------------------------

pid_t dead_pid() {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  return child;
}

TEST(RunResume, RemovesTemporariesAndMediaOfTheUnwrittenStep) {
  auto dir = fresh_dir("cleanup");
  {
    trainscope::Run run(options_for(dir));
    for (int i = 0; i < 3; ++i) run.commit(scalars(i));
    run.finish();
  }
  const std::string dead = std::to_string(dead_pid()), alive = std::to_string(::getppid());
  std::vector<std::string> leftovers = {"summary.json.tmp-" + dead, "config.json.tmp-" + dead,
                                        "checkpoints/model-best.pt.tmp-" + dead,
                                        "media/images/examples_3_0123456789abcdef0123.png.tmp-" + dead,
                                        "media/images/examples_3_0123456789abcdef0123.png",  // step 3: never in history
                                        "media/table/eval_7_aaaaaaaaaaaaaaaaaaaa.table.json"};
  for (const auto& name : leftovers) std::ofstream(dir / name) << "x";
  std::ofstream(dir / ("summary.json.tmp-" + alive)) << "x";  // a live writer's: left alone
  std::ofstream(dir / "media/images/examples_2_0123456789abcdef0123.png") << "x";  // step 2 exists: kept
  trainscope::Run resumed(options_for(dir));
  EXPECT_EQ(resumed.next_step(), 3);
  for (const auto& name : leftovers) EXPECT_FALSE(fs::exists(dir / name)) << name;
  EXPECT_TRUE(fs::exists(dir / ("summary.json.tmp-" + alive)));
  EXPECT_TRUE(fs::exists(dir / "media/images/examples_2_0123456789abcdef0123.png"));
}

TEST(RunResume, MediaFileStepsAreParsedFromTheRight) {
  EXPECT_EQ(detail::media_file_step("examples_12_0123456789abcdef0123.png"), 12);
  EXPECT_EQ(detail::media_file_step("a_3_b_40_0123456789abcdef0123.table.json"), 40);
  EXPECT_EQ(detail::media_file_step("examples_12_0123456789abcdef012.png"), -1);  // 19 hex
  EXPECT_EQ(detail::media_file_step("examples__0123456789abcdef0123.png"), -1);
  EXPECT_EQ(detail::media_file_step("examples_1_0123456789abcdef0123.jpg"), -1);
}

TEST(RunResume, ATruncatedSummaryIsRebuiltFromHistory) {
  auto dir = fresh_dir("summary");
  {
    trainscope::Run run(options_for(dir));
    for (double loss : {0.9, 0.3, 0.6}) {
      StepRecord r = scalars(loss);
      r.scalars["epoch"] = run.next_step();
      run.commit(std::move(r));
    }
    run.commit(scalars(0.1));  // a batch row (no "epoch"): not what best tracking compares
    run.set_summary("best_loss", 0.3);
    run.finish();
  }
  const std::string text = slurp(dir / "summary.json");
  fs::resize_file(dir / "summary.json", text.size() / 2);
  trainscope::Run resumed(options_for(dir));
  EXPECT_EQ(resumed.summary_number("loss"), 0.1);
  EXPECT_EQ(resumed.summary_number("epoch"), 2);
  EXPECT_EQ(resumed.summary_number("_step"), 3);
  EXPECT_EQ(resumed.history_best("loss", false)->value, 0.1);
  auto best = resumed.history_best("loss", false, "epoch");
  ASSERT_TRUE(best);
  EXPECT_EQ(best->value, 0.3);
  EXPECT_EQ(best->epoch, 1);
  EXPECT_EQ(best->step, 1);
  EXPECT_EQ(resumed.history_best("loss", true)->value, 0.9);
  EXPECT_FALSE(resumed.history_best("val_acc", true));
}

// ---- Upload pieces ------------------------------------------------------------------------------

TEST(UploadFiles, TemporariesOfTheAtomicWriterAreNeverListed) {
  auto dir = fresh_dir("run_files");
  fs::create_directories(dir / "media/images");
  fs::create_directories(dir / "checkpoints");
  for (const char* name : {"media/images/a_1_0123456789abcdef0123.png", "media/images/a_1_0123456789abcdef0123.png.tmp-4242",
                           "checkpoints/model-best.pt", "checkpoints/model-best.pt.tmp-77", "graph.json.tmp-9"})
    std::ofstream(dir / name) << "x";
  std::vector<std::string> names;
  for (const auto& f : detail::list_run_files(dir.string())) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"checkpoints/model-best.pt", "media/images/a_1_0123456789abcdef0123.png"}));
  EXPECT_TRUE(detail::is_atomic_temp_name("x.png.tmp-123"));
  EXPECT_FALSE(detail::is_atomic_temp_name("x.tmp-"));
  EXPECT_FALSE(detail::is_atomic_temp_name("x.tmp-12a"));
}

TEST(UploadScrub, EveryEncodingOfTheKeyIsRemoved) {
  const std::string key = "ts-0123456789abcdef0123456789abcdef01234567?";
  // base64("api:" + key), computed independently (Python: base64.b64encode(b"api:" + key)).
  const std::string basic = "YXBpOnRzLTAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc/";
  EXPECT_EQ(detail::base64_encode("api:" + key), basic);
  EXPECT_EQ(detail::base64_encode("ab"), "YWI=");
  detail::HttpClient client(detail::HttpSettings{key});
  const std::string page = "<html>Authorization: Basic " + basic + " json " +
                           "YXBpOnRzLTAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc\\/" +
                           " url YXBpOnRzLTAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc%2F" +
                           " user api:" + key + " raw " + key + "</html>";
  const std::string scrubbed = client.scrub(page);
  for (const std::string& leak : {key, std::string("YXBpOnRzLTAxMjM0NTY3ODlh"), std::string("api:ts-")})
    EXPECT_EQ(scrubbed.find(leak), std::string::npos) << scrubbed;
  EXPECT_NE(scrubbed.find("Authorization: Basic ***"), std::string::npos) << scrubbed;
}

TEST(UploadHistory, AnOffsetInsideALineIsAnError) {
  auto dir = fresh_dir("offset");
  fs::create_directories(dir);
  std::ofstream(dir / "history.jsonl") << "{\"_step\":0}\n{\"_step\":1}\n";
  auto batch = detail::read_history_batch((dir / "history.jsonl").string(), 12, 1 << 20, 1 << 20, 1);
  ASSERT_EQ(batch.lines.size(), 1u);
  EXPECT_EQ(batch.lines[0], "{\"_step\":1}");
  expect_error([&] { detail::read_history_batch((dir / "history.jsonl").string(), 5, 1 << 20, 1 << 20, 1); },
               "does not end at a line boundary");
}

}  // namespace
}  // namespace trainscope
