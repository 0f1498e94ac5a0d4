// Runs README.md's quick start (extracted by tests/quickstart/tests.cmake) on a small synthetic
// classification problem, then checks what it promises: the loss is logged, the validation
// metrics are computed and logged, the best checkpoint exists. Exit status 1 names what failed.
#include <trainscope/torch/callback.h>

#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

int main() {
  torch::manual_seed(0);
  // Two separable classes of 4 features; what the snippet calls model, optimizer, batches, val_x/val_y.
  auto make = [](int64_t n) {
    auto x = torch::randn({n, 4});
    auto y = (x.sum(1) > 0).to(torch::kLong);
    return std::make_pair(x, y);
  };
  auto [val_x, val_y] = make(64);
  std::vector<std::pair<torch::Tensor, torch::Tensor>> batches;
  for (int i = 0; i < 4; ++i) batches.push_back(make(32));
  const int64_t epochs = 3;
  torch::nn::Linear model(4, 2);
  torch::optim::SGD optimizer(model->parameters(), 0.5);

  std::string run_dir;
  {
#include "quickstart_snippet.inc"
    run_dir = callback.run().directory();
  }

  int failures = 0;
  auto expect = [&](bool ok, const std::string& what) {
    if (!ok) {
      std::cerr << "quick start: " << what << "\n";
      ++failures;
    }
  };
  std::ifstream in(run_dir + "/history.jsonl");
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  expect(rows.size() == size_t(epochs), "expected one history row per epoch, got " + std::to_string(rows.size()));
  for (const auto& row : rows) {
    expect(row.contains("loss") && row["loss"].is_number(), "a row without the training loss: " + row.dump());
    expect(row.contains("val_loss") && row["val_loss"].is_number(), "a row without val_loss: " + row.dump());
    expect(row.contains("val_acc") && row["val_acc"].get<double>() >= 0 && row["val_acc"].get<double>() <= 1,
           "val_acc missing or outside [0, 1]: " + row.dump());
  }
  if (!rows.empty()) expect(rows.back()["val_acc"].get<double>() > 0.6, "the model did not learn: " + rows.back().dump());
  expect(std::ifstream(run_dir + "/checkpoints/model-best.pt").good(), "no best checkpoint");
  std::cout << "quick start wrote " << run_dir << (failures ? " (FAILED)" : " (ok)") << "\n";
  return failures ? 1 : 0;
}
