#pragma once
// The history-row values of docs/run-directory.md for histograms, images and tables, and the media files they
// reference (media/images/<key>_<step>_<sha256[:20]>.png, media/table/<key>_<step>_<sha256[:20]>.table.json).
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "trainscope/run/record.h"

namespace trainscope::detail {

// {"_type":"histogram","values":[B counts],"bins":[B+1 edges]}; null when there is no finite value.
nlohmann::json histogram_json(const HistogramValue& histogram, const std::string& key);

// Encodes and writes each image; one image gives an "image-file" value, several an
// "images/separated" value. `stored` receives the PNG bytes and paths (for sinks).
nlohmann::json store_images(const std::string& run_dir, const std::string& key, int64_t step,
                            const std::vector<ImageValue>& images, std::vector<StoredImage>& stored,
                            bool durable);

// Writes {"columns":[...],"data":[[...]]} and returns the "table-file" value.
nlohmann::json store_table(const std::string& run_dir, const std::string& key, int64_t step,
                           const TableValue& table, bool durable);

nlohmann::json cell_json(const TableCell& cell);
// A metric value: a finite number as itself; NaN, +Inf, -Inf as the strings "NaN", "Infinity",
// "-Infinity" (strict JSON has no such numbers; the uploader sends them to W&B as the bare tokens,
// docs/run-directory.md#historyjsonl).
nlohmann::json number_json(double value);
// A table cell or config number: a finite number as itself, NaN and ±Inf as null.
nlohmann::json finite_or_null(double value);

}  // namespace trainscope::detail
