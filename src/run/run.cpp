#include "trainscope/run/run.h"

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/utf8.h"
#include "run/file_io.h"
#include "run/media.h"
#include "run/metric_summaries.h"
#include "run/names.h"
#include "run/record_check.h"
#include "run/resume_cleanup.h"
#include "run/run_json.h"
#include "run/sha256.h"
#include "run/step_rows.h"
#include "trainscope/error.h"

namespace trainscope {

using nlohmann::json;

namespace {

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

json config_json(const ConfigValue& value) { return detail::cell_json(value); }

}  // namespace

struct Run::Impl {
  RunOptions options;
  std::string id, dir;
  bool resumed = false;
  int64_t next_step = 0;  // after the resumed history; rows takes over from there
  double runtime_offset = 0;
  double start_time = now_seconds();

  std::mutex state_mutex;  // summary, config, sinks, kept error
  json summary = json::object();
  json config = json::object();
  json run_record = json::object();     // run.json
  detail::MetricSummaries declared;     // definitions as run.json records them (caller side)
  std::vector<std::shared_ptr<Sink>> sinks;
  std::exception_ptr error;

  struct Item {
    bool flush_marker = false;  // no row: fsync history, write the summary, flush the sinks
    // no row: a metric definition, applied between the rows logged before and after it
    std::optional<std::pair<std::string, MetricDefinition>> definition;
    int64_t step = 0;
    double wall_time = 0, runtime = 0;
    StepRecord record;
    std::vector<std::unique_ptr<PendingPart>> pending;
  };
  std::mutex queue_mutex;
  std::condition_variable queue_changed;
  std::deque<Item> queue;
  uint64_t enqueued = 0, processed = 0;
  bool stopping = false, finished = false;
  std::thread writer;

  detail::AppendFile history;
  detail::MetricSummaries metrics;  // the writer's definitions and statistics
  int steps_since_summary = 0, steps_since_fsync = 0;

  void keep_error(std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(state_mutex);
    if (!error) error = e;
  }
  void rethrow_kept_error() {
    std::exception_ptr e;
    {
      std::lock_guard<std::mutex> lock(state_mutex);
      std::swap(e, error);
    }
    if (e) std::rethrow_exception(e);
  }

  void write_summary() {
    std::string text;
    {
      std::lock_guard<std::mutex> lock(state_mutex);
      text = dump(summary);
    }
    detail::write_file_atomic(dir + "/summary.json", text, options.durability.fsync_replaced_files);
  }

  void open_directory() {
    if (!options.directory.empty()) {
      dir = options.directory;
      id = std::filesystem::path(dir).filename().string();
    } else {
      id = options.run_id.empty() ? detail::new_run_id() : options.run_id;
      if (sanitize_file_component(id) != id)
        throw Error("Run: run_id: expected only [A-Za-z0-9._-] characters, got '" + id + "'");
      dir = options.root + "/" + id;
    }
    dir = std::filesystem::absolute(dir).lexically_normal().string();
    if (!dir.empty() && dir.back() == '/') dir.pop_back();
    detail::check_identity(options);
    run_record = detail::read_run_json(dir);
    metrics.load(run_record.value("metrics", json::array()));
    declared.load(run_record.value("metrics", json::array()));
    std::string history_path = dir + "/history.jsonl";
    if (detail::file_exists(history_path)) {
      if (!options.resume)
        throw Error("Run: directory '" + dir + "' already holds a run (set RunOptions::resume to continue it)");
      resume_from(history_path);
    }
    for (const char* sub : {"", "/media/images", "/media/table", "/checkpoints"})
      detail::make_directories(dir + sub);
    if (detail::file_exists(dir + "/config.json")) {
      try {
        config = json::parse(detail::read_file(dir + "/config.json"));
      } catch (const json::exception&) {
        config = json::object();
      }
    }
    run_record = detail::merge_identity(std::move(run_record), id, options);
    write_run_record();
    history.open(history_path);
  }

  std::mutex run_record_file_mutex;  // one writer of run.json at a time (its temp name is per process)
  void write_run_record() {
    std::lock_guard<std::mutex> file_lock(run_record_file_mutex);
    std::string text;
    {
      std::lock_guard<std::mutex> lock(state_mutex);
      if (!declared.empty()) run_record["metrics"] = declared.to_json();
      text = run_record.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
    }
    detail::write_file_atomic(dir + "/run.json", text, options.durability.fsync_replaced_files);
  }

  // Continues after the last complete line; a torn last line (a kill mid-write on a filesystem
  // without atomic appends) is cut off. A summary.json that no longer parses is rebuilt from the
  // history rows (the last value of every key); what only the summary held (best_*, GFLOPs,
  // graph) is then gone, and the callback recovers its best from history or the checkpoint.
  void resume_from(const std::string& history_path) {
    resumed = true;
    std::string text = detail::read_file(history_path);
    std::size_t complete = text.rfind('\n');
    complete = complete == std::string::npos ? 0 : complete + 1;
    if (complete != text.size()) {
      std::error_code ec;
      std::filesystem::resize_file(history_path, complete, ec);
      if (ec)
        throw Error("Run: resuming '" + dir + "': history.jsonl ends in a torn line that could not be cut off (" +
                    ec.message() + "); make the directory writable or resume a copy");
      text.resize(complete);
    }
    std::size_t end = complete ? complete - 1 : 0;
    while (end > 0) {
      std::size_t begin = text.rfind('\n', end - 1);
      begin = begin == std::string::npos ? 0 : begin + 1;
      try {
        json last = json::parse(text.substr(begin, end - begin));
        next_step = last.value("_step", int64_t(-1)) + 1;
        runtime_offset = last.value("_runtime", 0.0);
        break;
      } catch (const json::exception&) {
        end = begin ? begin - 1 : 0;  // skip an unreadable line
      }
    }
    bool summary_ok = false;
    if (detail::file_exists(dir + "/summary.json")) {
      try {
        summary = json::parse(detail::read_file(dir + "/summary.json"));
        summary_ok = summary.is_object();
      } catch (const json::exception&) {
      }
    }
    if (!summary_ok) summary = summary_from_history(text);
    if (!metrics.empty()) metrics.replay(text, summary);  // statistics continue over the whole history
    detail::remove_stale_temporaries(dir);
    detail::remove_unreferenced_media(dir, next_step);
  }

  static json summary_from_history(const std::string& text) {
    json rebuilt = json::object();
    std::size_t begin = 0;
    while (begin < text.size()) {
      std::size_t end = text.find('\n', begin);
      if (end == std::string::npos) end = text.size();
      json row = json::parse(text.begin() + begin, text.begin() + end, nullptr, false);
      if (row.is_object())
        for (auto& [key, value] : row.items()) rebuilt[key] = std::move(value);
      begin = end + 1;
    }
    return rebuilt;
  }

  void process(Item& item) {
    if (item.flush_marker) {
      history.sync();
      write_summary();
      std::vector<std::shared_ptr<Sink>> current;
      {
        std::lock_guard<std::mutex> lock(state_mutex);
        current = sinks;
      }
      for (auto& sink : current) sink->flush();
      steps_since_fsync = steps_since_summary = 0;
      return;
    }
    if (item.definition) {
      const auto& [name, definition] = *item.definition;
      metrics.define(name, definition);
      const std::string text = detail::read_file(dir + "/history.jsonl");
      std::lock_guard<std::mutex> lock(state_mutex);
      metrics.replay(text, summary, name);
      return;
    }
    StepRecord& record = item.record;
    for (auto& part : item.pending) part->resolve(record);
    if (!item.pending.empty()) detail::check_record(record, "Run::commit (deferred values)");
    json row = json::object();
    row["_step"] = item.step;
    row["_runtime"] = item.runtime;
    row["_timestamp"] = item.wall_time;
    for (const auto& [key, value] : record.scalars) row[key] = detail::number_json(value);
    for (const auto& [key, value] : record.texts) row[key] = value;
    for (const auto& [key, value] : record.histograms) {
      json h = detail::histogram_json(value, key);
      if (!h.is_null()) row[key] = std::move(h);
    }
    bool durable_media = options.durability.fsync_replaced_files;
    CommittedStep committed;
    committed.step = item.step;
    committed.wall_time = item.wall_time;
    committed.runtime = item.runtime;
    committed.record = &record;
    try {
      for (const auto& [key, images] : record.images) {
        json value = detail::store_images(dir, key, item.step, images, committed.images[key], durable_media);
        if (!value.is_null()) row[key] = std::move(value);
      }
      for (const auto& [key, table] : record.tables)
        row[key] = detail::store_table(dir, key, item.step, table, durable_media);
      metrics.sync_steps(row);
      history.append(dump(row) + "\n");
    } catch (...) {
      remove_media_of(row, committed);  // no history line will ever reference them
      throw;
    }
    std::vector<std::shared_ptr<Sink>> current;
    {
      std::lock_guard<std::mutex> lock(state_mutex);
      metrics.fold(row, summary);
      current = sinks;
    }
    const DurabilityPolicy& policy = options.durability;
    if (policy.fsync_every_steps > 0 && ++steps_since_fsync >= policy.fsync_every_steps) {
      history.sync();
      steps_since_fsync = 0;
    }
    if (++steps_since_summary >= std::max(1, policy.summary_every_steps)) {
      write_summary();
      steps_since_summary = 0;
    }
    for (auto& sink : current) sink->write(committed);
  }

  // Best effort: the media files of a row whose line could not be appended (those in the row, and
  // images stored before a later part of the row failed).
  void remove_media_of(const json& row, const CommittedStep& committed) {
    for (const auto& [key, stored] : committed.images)
      for (const auto& image : stored) ::unlink((dir + "/" + image.path).c_str());
    for (const auto& [key, value] : row.items()) {
      if (!value.is_object()) continue;
      if (value.contains("path") && value["path"].is_string())
        ::unlink((dir + "/" + value["path"].get<std::string>()).c_str());
      if (value.contains("filenames") && value["filenames"].is_array())
        for (const auto& name : value["filenames"])
          if (name.is_string()) ::unlink((dir + "/" + name.get<std::string>()).c_str());
    }
  }

  void writer_loop() {
    for (;;) {
      Item item;
      {
        std::unique_lock<std::mutex> lock(queue_mutex);
        queue_changed.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty()) return;
        item = std::move(queue.front());
        queue.pop_front();
        queue_changed.notify_all();  // room for a blocked commit
      }
      try {
        process(item);
      } catch (...) {
        keep_error(std::current_exception());
      }
      item.pending.clear();  // returns device buffers to their pools on this thread
      {
        std::lock_guard<std::mutex> lock(queue_mutex);
        ++processed;
      }
      queue_changed.notify_all();
    }
  }

  uint64_t enqueue(Item item) {
    std::unique_lock<std::mutex> lock(queue_mutex);
    if (finished) throw Error("Run: the run is finished; no more steps can be committed");
    queue_changed.wait(lock, [&] { return queue.size() < std::max<std::size_t>(1, options.queue_capacity); });
    queue.push_back(std::move(item));
    uint64_t ticket = ++enqueued;
    queue_changed.notify_all();
    return ticket;
  }

  // Open rows and their steps (run/step_rows.h). rows_mutex is held while closed rows are
  // enqueued, so rows reach the writer in step order even from several threads.
  std::mutex rows_mutex;
  detail::StepRows rows;

  void enqueue_row(detail::OpenRow row) {
    Item item;
    item.wall_time = now_seconds();
    item.runtime = runtime_offset + (item.wall_time - start_time);
    item.step = row.step;
    item.record = std::move(row.record);
    item.pending = std::move(row.pending);
    enqueue(std::move(item));
  }

  int64_t log(StepRecord values, std::vector<std::unique_ptr<PendingPart>> pending, std::optional<int64_t> step,
              std::optional<bool> commit, const char* where) {
    rethrow_kept_error();
    detail::check_record(values, where);
    for (const auto& part : pending)
      if (!part) throw Error(std::string(where) + ": pending: expected non-null parts");
    {
      std::lock_guard<std::mutex> lock(queue_mutex);
      if (finished) throw Error(std::string(where) + ": the run is finished; nothing more can be logged");
    }
    std::lock_guard<std::mutex> lock(rows_mutex);
    int64_t landed = 0;
    auto closed = rows.log(std::move(values), std::move(pending), step, commit, landed, where);
    for (auto& row : closed) enqueue_row(std::move(row));  // merging kept each key once
    return landed;
  }

  void close_open_row() {
    std::lock_guard<std::mutex> lock(rows_mutex);
    if (auto row = rows.close()) enqueue_row(std::move(*row));
  }

  void wait_processed(uint64_t ticket) {
    std::unique_lock<std::mutex> lock(queue_mutex);
    queue_changed.wait(lock, [&] { return processed >= ticket; });
  }
};

Run::Run(RunOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->open_directory();
  impl_->rows = detail::StepRows(impl_->next_step);
  impl_->writer = std::thread([impl = impl_.get()] { impl->writer_loop(); });
}

Run::~Run() {
  try {
    finish();
  } catch (...) {
  }
}

const std::string& Run::id() const { return impl_->id; }
const std::string& Run::directory() const { return impl_->dir; }
bool Run::resumed() const { return impl_->resumed; }
int64_t Run::next_step() const {
  std::lock_guard<std::mutex> lock(impl_->rows_mutex);
  return impl_->rows.current_step();
}
namespace {
std::string text_field(const json& record, const char* key) {
  auto it = record.find(key);
  return it != record.end() && it->is_string() ? it->get<std::string>() : std::string();
}
}  // namespace

std::string Run::name() const {
  std::lock_guard<std::mutex> lock(impl_->state_mutex);
  return text_field(impl_->run_record, "name");
}
std::string Run::group() const {
  std::lock_guard<std::mutex> lock(impl_->state_mutex);
  return text_field(impl_->run_record, "group");
}
std::string Run::path(const std::string& relative) const { return impl_->dir + "/" + relative; }

void Run::add_sink(std::shared_ptr<Sink> sink) {
  if (!sink) throw Error("Run::add_sink: sink: expected a non-null sink");
  std::lock_guard<std::mutex> lock(impl_->state_mutex);
  impl_->sinks.push_back(std::move(sink));
}

void Run::set_config(const std::map<std::string, ConfigValue>& values) {
  for (const auto& [key, value] : values) {
    detail::check_utf8(key, "Run::set_config", "key");
    detail::check_cell(value, "Run::set_config", "value of '" + key + "'");
  }
  std::string text;
  {
    std::lock_guard<std::mutex> lock(impl_->state_mutex);
    for (const auto& [key, value] : values) impl_->config[key] = config_json(value);
    text = dump(impl_->config);
  }
  detail::write_file_atomic(path("config.json"), text, impl_->options.durability.fsync_replaced_files);
}

void Run::set_summary(const std::string& key, const ConfigValue& value) {
  if (key.empty()) throw Error("Run::set_summary: key: expected a non-empty name");
  detail::check_utf8(key, "Run::set_summary", "key");
  detail::check_cell(value, "Run::set_summary", "value of '" + key + "'");
  std::lock_guard<std::mutex> lock(impl_->state_mutex);
  impl_->summary[key] = config_json(value);
}

std::optional<double> Run::summary_number(const std::string& key) const {
  std::lock_guard<std::mutex> lock(impl_->state_mutex);
  auto it = impl_->summary.find(key);
  if (it == impl_->summary.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::optional<Run::HistoryBest> Run::history_best(const std::string& key, bool maximize,
                                                  const std::string& row_key) const {
  std::ifstream in(path("history.jsonl"), std::ios::binary);
  std::optional<HistoryBest> best;
  std::string line;
  const std::string quoted = json(key).dump();
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no '\n' yet: a line still being written
    if (line.find(quoted) == std::string::npos) continue;  // cheap filter before parsing
    json row = json::parse(line, nullptr, false);
    if (!row.is_object()) continue;
    auto it = row.find(key);
    if (it == row.end() || !it->is_number()) continue;  // NaN and ±Inf are stored as null
    if (!row_key.empty() && !row.contains(row_key)) continue;
    double value = it->get<double>();
    if (best && !(maximize ? value > best->value : value < best->value)) continue;
    HistoryBest found;
    found.value = value;
    auto epoch = row.find("epoch");
    if (epoch != row.end() && epoch->is_number()) found.epoch = epoch->get<int64_t>();
    found.step = row.value("_step", int64_t(-1));
    best = found;
  }
  return best;
}

void Run::define_metric(const std::string& name, const MetricDefinition& definition) {
  detail::check_metric_definition(name, definition, "Run::define_metric");
  impl_->rethrow_kept_error();
  {
    std::lock_guard<std::mutex> lock(impl_->state_mutex);
    impl_->declared.define(name, definition);
  }
  impl_->write_run_record();
  // Through the writer queue: rows already committed fold under the old definitions, the open row
  // and later ones under the new; the statistics are then replayed from history.jsonl.
  Impl::Item item;
  item.definition.emplace(name, definition);
  impl_->enqueue(std::move(item));
}

std::optional<MetricDefinition> Run::metric_definition(const std::string& name) const {
  std::lock_guard<std::mutex> lock(impl_->state_mutex);
  const MetricDefinition* d = impl_->declared.definition_of(name);
  return d ? std::optional<MetricDefinition>(*d) : std::nullopt;
}

void Run::write_graph(const std::string& json_text) {
  json graph;
  try {
    graph = json::parse(json_text);
  } catch (const json::exception& e) {
    throw Error(std::string("Run::write_graph: json_text: expected a JSON document: ") + e.what());
  }
  std::string text = dump(graph);
  detail::write_file_atomic(path("graph.json"), text, impl_->options.durability.fsync_replaced_files);
  std::lock_guard<std::mutex> lock(impl_->state_mutex);
  impl_->summary["graph"] = {{"_type", "graph-file"}, {"path", "graph.json"},
                             {"sha256", detail::sha256_hex(text)}, {"size", text.size()}};
}

int64_t Run::commit(StepRecord record, std::vector<std::unique_ptr<PendingPart>> pending) {
  return impl_->log(std::move(record), std::move(pending), std::nullopt, true, "Run::commit");
}

int64_t Run::log(const LogRow& values, std::optional<int64_t> step, std::optional<bool> commit) {
  return impl_->log(detail::record_of(values), {}, step, commit, "Run::log");
}

int64_t Run::log(StepRecord values, std::vector<std::unique_ptr<PendingPart>> pending, std::optional<int64_t> step,
                 std::optional<bool> commit) {
  return impl_->log(std::move(values), std::move(pending), step, commit, "Run::log");
}

void Run::flush() {
  impl_->close_open_row();
  Impl::Item marker;
  marker.flush_marker = true;
  uint64_t ticket = impl_->enqueue(std::move(marker));
  impl_->wait_processed(ticket);
  impl_->rethrow_kept_error();
}

void Run::finish() {
  {
    std::lock_guard<std::mutex> lock(impl_->queue_mutex);
    if (impl_->finished) return;
  }
  std::exception_ptr flush_error;
  try {
    flush();
  } catch (...) {
    flush_error = std::current_exception();
  }
  {
    std::lock_guard<std::mutex> lock(impl_->queue_mutex);
    impl_->finished = impl_->stopping = true;
  }
  impl_->queue_changed.notify_all();
  if (impl_->writer.joinable()) impl_->writer.join();
  std::vector<std::shared_ptr<Sink>> sinks;
  {
    std::lock_guard<std::mutex> lock(impl_->state_mutex);
    sinks = impl_->sinks;
  }
  for (auto& sink : sinks) {
    try {
      sink->close();
    } catch (...) {
      if (!flush_error) flush_error = std::current_exception();
    }
  }
  impl_->history.close();
  if (flush_error) std::rethrow_exception(flush_error);
}

}  // namespace trainscope
