#include "run/step_rows.h"

#include <string>

#include "trainscope/error.h"

namespace trainscope::detail {

namespace {

template <typename Map>
void erase_key(Map& map, const std::string& key) {
  map.erase(key);
}

void erase_everywhere(StepRecord& record, const std::string& key) {
  erase_key(record.scalars, key);
  erase_key(record.texts, key);
  erase_key(record.histograms, key);
  erase_key(record.images, key);
  erase_key(record.tables, key);
}

template <typename Map>
void move_entries(StepRecord& into, Map& target, Map&& source) {
  for (auto& [key, value] : source) {
    erase_everywhere(into, key);
    target[key] = std::move(value);
  }
}

}  // namespace

void merge_record(StepRecord& into, StepRecord&& from) {
  move_entries(into, into.scalars, std::move(from.scalars));
  move_entries(into, into.texts, std::move(from.texts));
  move_entries(into, into.histograms, std::move(from.histograms));
  move_entries(into, into.images, std::move(from.images));
  move_entries(into, into.tables, std::move(from.tables));
}

StepRecord record_of(const LogRow& values) {
  StepRecord record;
  for (const auto& [key, value] : values) {
    struct Visitor {
      StepRecord& r;
      const std::string& k;
      void operator()(double v) const { r.scalars[k] = v; }
      void operator()(const std::string& v) const { r.texts[k] = v; }
      void operator()(const HistogramValue& v) const { r.histograms[k] = v; }
      void operator()(const ImageValue& v) const { r.images[k] = {v}; }
      void operator()(const std::vector<ImageValue>& v) const { r.images[k] = v; }
      void operator()(const TableValue& v) const { r.tables[k] = v; }
    };
    std::visit(Visitor{record, key}, value.get());
  }
  return record;
}

std::vector<OpenRow> StepRows::log(StepRecord values, std::vector<std::unique_ptr<PendingPart>> pending,
                                   std::optional<int64_t> step, std::optional<bool> commit, int64_t& landed,
                                   const char* where) {
  std::vector<OpenRow> closed;
  if (step) {
    if (*step < 0) throw Error(std::string(where) + ": step: expected ≥ 0, got " + std::to_string(*step));
    if (*step < current_step()) {
      if (open_)
        throw Error(std::string(where) + ": step " + std::to_string(*step) + " is older than the current step " +
                    std::to_string(open_->step) + "; steps must not decrease (W&B's _step)");
      throw Error(std::string(where) + ": step " + std::to_string(*step) + " is already written (the run is at step " +
                  std::to_string(next_step_) + "); steps must not decrease (W&B's _step)" +
                  (next_step_ > 0 ? "; a resumed run continues its steps" : ""));
    }
    if (open_ && *step > open_->step) {
      closed.push_back(std::move(*open_));
      open_.reset();
      next_step_ = closed.back().step + 1;
    }
  }
  if (!open_) {
    open_.emplace();
    open_->step = step ? *step : next_step_;
  }
  merge_record(open_->record, std::move(values));
  for (auto& part : pending) open_->pending.push_back(std::move(part));
  landed = open_->step;
  if (commit.value_or(!step.has_value())) {
    closed.push_back(std::move(*open_));
    open_.reset();
    next_step_ = landed + 1;
  }
  return closed;
}

std::optional<OpenRow> StepRows::close() {
  if (!open_) return std::nullopt;
  std::optional<OpenRow> row = std::move(open_);
  open_.reset();
  next_step_ = row->step + 1;
  return row;
}

}  // namespace trainscope::detail
