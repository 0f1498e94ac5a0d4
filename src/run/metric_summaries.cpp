#include "run/metric_summaries.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "common/utf8.h"
#include "trainscope/error.h"

namespace trainscope::detail {

using nlohmann::json;

bool glob_match(const std::string& pattern, const std::string& key) {
  // Greedy match with backtracking to the last '*': linear in practice, no recursion.
  std::size_t p = 0, k = 0, star = std::string::npos, resume = 0;
  while (k < key.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = k;
    } else if (p < pattern.size() && pattern[p] == key[k]) {
      ++p, ++k;
    } else if (star != std::string::npos) {
      p = star + 1;
      k = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

void check_metric_definition(const std::string& name, const MetricDefinition& d, const char* where) {
  if (name.empty()) throw Error(std::string(where) + ": name: expected a non-empty metric name");
  check_utf8(name, where, "name");
  if (name[0] == '_')
    throw Error(std::string(where) + ": name '" + name + "': names starting with '_' are the run's own (_step, _runtime, ...)");
  check_utf8(d.step_metric, where, "step_metric");
  if (d.step_metric.find('*') != std::string::npos)
    throw Error(std::string(where) + ": step_metric '" + d.step_metric + "' of '" + name +
                "': expected one metric name, not a pattern");
  const MetricSummary& s = d.summary;
  if (s.none && (s.min || s.max || s.mean || s.last || s.first))
    throw Error(std::string(where) + ": summary of '" + name + "': `none` excludes min, max, mean, last and first");
}

void MetricSummaries::Stats::add(const json& value) {
  if (!has_data) first = value;
  has_data = true;
  last = value;
  if (!value.is_number()) return;  // non-finite values are stored as strings: last/first only
  const double v = value.get<double>();
  min = count ? std::min(min, v) : v;
  max = count ? std::max(max, v) : v;
  total += v;
  ++count;
}

json MetricSummaries::Stats::summary(const MetricSummary& kinds) const {
  json out = json::object();
  if (kinds.last) out["last"] = last;
  if (kinds.first) out["first"] = first;
  if (count) {
    if (kinds.max) out["max"] = max;
    if (kinds.min) out["min"] = min;
    if (kinds.mean) out["mean"] = total / double(count);
  }
  return out;
}

namespace {
bool any_kind(const MetricSummary& s) { return s.min || s.max || s.mean || s.last || s.first; }
}  // namespace

void MetricSummaries::define(const std::string& name, const MetricDefinition& definition) {
  auto it = std::find_if(definitions_.begin(), definitions_.end(), [&](const auto& d) { return d.first == name; });
  if (it != definitions_.end()) definitions_.erase(it);
  definitions_.emplace_back(name, definition);  // the latest definition is found first among globs
}

const MetricDefinition* MetricSummaries::definition_of(const std::string& name) const {
  for (const auto& [defined, d] : definitions_)
    if (defined == name) return &d;
  return nullptr;
}

const MetricDefinition* MetricSummaries::find(const std::string& key) const {
  for (const auto& [name, d] : definitions_)
    if (name == key) return &d;
  for (auto it = definitions_.rbegin(); it != definitions_.rend(); ++it)
    if (it->first.find('*') != std::string::npos && glob_match(it->first, key)) return &it->second;
  return nullptr;
}

void MetricSummaries::fold_value(const std::string& key, const json& value, json& summary) {
  const MetricDefinition* d = key.empty() || key[0] == '_' ? nullptr : find(key);
  if (!d || (!d->summary.none && !any_kind(d->summary))) {
    summary[key] = value;
    return;
  }
  if (d->summary.none) {
    summary.erase(key);
    return;
  }
  Stats& stats = stats_[key];
  stats.add(value);
  summary[key] = stats.summary(d->summary);
}

void MetricSummaries::fold(const json& row, json& summary) {
  for (const auto& [key, value] : row.items()) fold_value(key, value, summary);
}

void MetricSummaries::sync_steps(json& row) {
  for (const auto& [name, d] : definitions_) {
    if (d.step_metric.empty()) continue;
    auto found = row.find(d.step_metric);
    if (found != row.end()) step_values_[d.step_metric] = *found;
  }
  if (step_values_.empty()) return;
  std::vector<std::pair<std::string, json>> added;
  for (const auto& [key, value] : row.items()) {
    const MetricDefinition* d = key.empty() || key[0] == '_' ? nullptr : find(key);
    if (!d || !d->step_sync || d->step_metric.empty() || row.contains(d->step_metric)) continue;
    auto last = step_values_.find(d->step_metric);
    if (last != step_values_.end()) added.emplace_back(d->step_metric, last->second);
  }
  for (auto& [key, value] : added) row[key] = std::move(value);
}

void MetricSummaries::replay(const std::string& text, json& summary, const std::string& name) {
  auto applies = [&](const std::string& key) {
    if (key.empty() || key[0] == '_') return false;
    const MetricDefinition* d = find(key);
    if (!d) return false;
    if (name.empty()) return true;
    return name.find('*') != std::string::npos ? glob_match(name, key) : key == name;
  };
  std::set<std::string> touched;
  for (auto it = stats_.begin(); it != stats_.end();) {  // statistics start over for what is replayed
    if (applies(it->first)) {
      touched.insert(it->first);
      it = stats_.erase(it);
    } else {
      ++it;
    }
  }
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    const json row = json::parse(text.begin() + begin, text.begin() + end, nullptr, false);
    begin = end + 1;
    if (!row.is_object()) continue;
    for (const auto& [key, value] : row.items()) {
      if (!applies(key)) continue;
      const MetricDefinition* d = find(key);
      if (d->summary.none || !any_kind(d->summary)) {
        touched.insert(key);
        if (!d->summary.none) summary[key] = value;  // the last value, as undefined metrics
        continue;
      }
      stats_[key].add(value);
    }
  }
  for (const auto& key : touched) {
    const MetricDefinition* d = find(key);
    if (d && d->summary.none) summary.erase(key);
  }
  for (const auto& [key, stats] : stats_)
    if (applies(key)) summary[key] = stats.summary(find(key)->summary);
}

json MetricSummaries::to_json() const {
  json out = json::array();
  for (const auto& [name, d] : definitions_) {
    json entry = {{"name", name}};
    if (!d.step_metric.empty()) entry["step_metric"] = d.step_metric;
    if (d.step_sync) entry["step_sync"] = true;
    if (d.hidden) entry["hidden"] = true;
    json kinds = json::array();
    const MetricSummary& s = d.summary;
    for (auto [set, label] : {std::pair{s.min, "min"}, {s.max, "max"}, {s.mean, "mean"}, {s.last, "last"},
                              {s.first, "first"}, {s.none, "none"}})
      if (set) kinds.push_back(label);
    if (!kinds.empty()) entry["summary"] = kinds;
    if (d.goal != MetricGoal::Unset) entry["goal"] = d.goal == MetricGoal::Minimize ? "minimize" : "maximize";
    out.push_back(entry);
  }
  return out;
}

void MetricSummaries::load(const json& recorded) {
  if (!recorded.is_array()) return;
  for (const auto& entry : recorded) {
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string()) continue;
    MetricDefinition d;
    if (entry.contains("step_metric") && entry["step_metric"].is_string()) d.step_metric = entry["step_metric"];
    d.step_sync = entry.value("step_sync", false);
    d.hidden = entry.value("hidden", false);
    if (entry.contains("summary") && entry["summary"].is_array())
      for (const auto& k : entry["summary"]) {
        if (!k.is_string()) continue;
        const std::string kind = k;
        d.summary.min |= kind == "min";
        d.summary.max |= kind == "max";
        d.summary.mean |= kind == "mean";
        d.summary.last |= kind == "last";
        d.summary.first |= kind == "first";
        d.summary.none |= kind == "none";
      }
    const std::string goal = entry.value("goal", std::string());
    d.goal = goal == "minimize" ? MetricGoal::Minimize : goal == "maximize" ? MetricGoal::Maximize : MetricGoal::Unset;
    try {
      check_metric_definition(entry["name"], d, "run.json");
    } catch (const Error&) {
      continue;
    }
    define(entry["name"], d);
  }
}

}  // namespace trainscope::detail
