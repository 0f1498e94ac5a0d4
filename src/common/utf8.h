#pragma once
// UTF-8 validation for every string that enters a run (keys, texts, captions, table columns and
// cells, config and summary values). JSON, TensorBoard's protobuf strings and W&B all require
// well-formed UTF-8; a string is checked once, where it enters, so every output sees the same text.
#include <cstddef>
#include <string>

namespace trainscope::detail {

// Offset of the first byte that is not part of well-formed UTF-8 (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF), or std::string::npos when `text` is valid.
std::size_t first_invalid_utf8(const std::string& text);

// `text` for an error message: printable ASCII as is, every other byte as \xNN, '\' as \\.
std::string escape_bytes(const std::string& text);

// Throws Error("<where>: <what> '<escaped text>': expected UTF-8, invalid byte 0xNN at offset N").
void check_utf8(const std::string& text, const std::string& where, const std::string& what);

}  // namespace trainscope::detail
