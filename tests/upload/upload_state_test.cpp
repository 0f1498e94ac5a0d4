#include "upload/upload_state.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "trainscope/error.h"
#include "upload/run_files.h"
#include "upload/run_fixture.h"

namespace trainscope::detail {
namespace {

TEST(UploadState, RoundTripsAndMissingFileIsFresh) {
  const std::string dir = trainscope::testing::make_temp_dir("state");
  const std::string path = dir + "/wandb-state.json";
  UploadState fresh = UploadState::load(path);
  EXPECT_EQ(fresh.server_lines, 0);
  EXPECT_TRUE(fresh.files.empty());

  UploadState s;
  s.run_path = "e/p/r";
  s.history_bytes = 12345;
  s.history_lines = 101;
  s.server_lines = 100;
  s.dropped_lines = 1;
  s.complete = true;
  s.files["checkpoints/model-best.pt"] = FileIdentity{10, 1700000000123456789LL, 42, 7};
  s.save(path);
  const UploadState back = UploadState::load(path);
  EXPECT_EQ(back.run_path, "e/p/r");
  EXPECT_EQ(back.history_bytes, 12345);
  EXPECT_EQ(back.history_lines, 101);
  EXPECT_EQ(back.server_lines, 100);
  EXPECT_EQ(back.dropped_lines, 1);
  EXPECT_TRUE(back.complete);
  ASSERT_EQ(back.files.size(), 1u);
  EXPECT_TRUE(back.files.at("checkpoints/model-best.pt") == (FileIdentity{10, 1700000000123456789LL, 42, 7}));
  // No temporary file is left next to it.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) entries += e.is_regular_file();
  EXPECT_EQ(entries, 1);

  trainscope::testing::write_file(path, "{\"server_lines\": \"many\"}");
  EXPECT_THROW(UploadState::load(path), Error);
  trainscope::testing::write_file(path, "not json");
  EXPECT_THROW(UploadState::load(path), Error);
  trainscope::testing::remove_tree(dir);
}

TEST(RunFiles, ListsMediaCheckpointsAndGraphButNotTemporaries) {
  const std::string dir = trainscope::testing::make_temp_dir("files");
  using trainscope::testing::write_file;
  write_file(dir + "/media/images/a.png", "a");
  write_file(dir + "/media/table/t.table.json", "{}");
  write_file(dir + "/checkpoints/model-best.pt", "w");
  write_file(dir + "/checkpoints/model-best.pt.tmp", "partial");
  write_file(dir + "/checkpoints/.hidden", "h");
  write_file(dir + "/graph.json", "{}");
  write_file(dir + "/history.jsonl", "{}\n");
  write_file(dir + "/upload/wandb-state.json", "{}");
  std::vector<std::string> names;
  for (const auto& f : list_run_files(dir)) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"checkpoints/model-best.pt", "graph.json",
                                             "media/images/a.png", "media/table/t.table.json"}));
  // A replacement by rename changes the identity even with the same size.
  FileIdentity before, after;
  ASSERT_TRUE(identity_of_path(dir + "/checkpoints/model-best.pt", before));
  trainscope::testing::replace_file(dir + "/checkpoints/model-best.pt", "v");
  ASSERT_TRUE(identity_of_path(dir + "/checkpoints/model-best.pt", after));
  EXPECT_TRUE(before != after);
  trainscope::testing::remove_tree(dir);
}

}  // namespace
}  // namespace trainscope::detail
