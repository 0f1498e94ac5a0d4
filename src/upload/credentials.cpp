#include "upload/credentials.h"

#include <curl/curl.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/check.h"
#include "run/file_io.h"

namespace trainscope::detail {
namespace {

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::string(value) : std::string();
}

std::string first_non_empty(const std::string& a, const std::string& b) { return a.empty() ? b : a; }


}  // namespace

std::string url_host(const std::string& url) {
  CURLU* parsed = curl_url();
  if (!parsed) throw Error("upload: could not create a libcurl URL handle");
  std::string host, scheme;
  char* part = nullptr;
  bool ok = curl_url_set(parsed, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK;
  if (ok && curl_url_get(parsed, CURLUPART_SCHEME, &part, 0) == CURLUE_OK) {
    scheme = part;
    curl_free(part);
  }
  if (ok && curl_url_get(parsed, CURLUPART_HOST, &part, 0) == CURLUE_OK) {
    host = part;
    curl_free(part);
  }
  curl_url_cleanup(parsed);
  check(!host.empty() && (scheme == "http" || scheme == "https"), "upload", "base_url",
        "expected an http:// or https:// URL, got '", url, "'");
  return host;
}

std::optional<std::string> netrc_password(const std::string& netrc_text, const std::string& host) {
  // netrc is a stream of tokens: `machine <host>` or `default` opens an entry, followed by
  // `login`, `password`, `account` pairs; `macdef <name>` runs to the next blank line.
  std::vector<std::string> tokens;
  std::istringstream lines(netrc_text);
  std::string line;
  bool in_macro = false;
  while (std::getline(lines, line)) {
    if (in_macro) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) in_macro = false;
      continue;
    }
    std::istringstream words(line);
    std::string word;
    while (words >> word) {
      if (word[0] == '#') break;
      tokens.push_back(word);
      if (word == "macdef") in_macro = true;
    }
  }
  std::optional<std::string> default_password;
  enum class Entry { none, match, other, fallback } entry = Entry::none;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (t == "machine" && i + 1 < tokens.size()) {
      entry = tokens[++i] == host ? Entry::match : Entry::other;
    } else if (t == "default") {
      entry = Entry::fallback;
    } else if ((t == "login" || t == "account" || t == "macdef") && i + 1 < tokens.size()) {
      ++i;
    } else if (t == "password" && i + 1 < tokens.size()) {
      const std::string& value = tokens[++i];
      if (entry == Entry::match) return value;
      if (entry == Entry::fallback && !default_password) default_password = value;
    }
  }
  return default_password;
}

Credentials resolve_credentials(const UploadOptions& options) {
  Credentials c;
  c.base_url = first_non_empty(options.base_url, env_or_empty("WANDB_BASE_URL"));
  if (c.base_url.empty()) c.base_url = "https://api.wandb.ai";
  while (!c.base_url.empty() && c.base_url.back() == '/') c.base_url.pop_back();
  const std::string host = url_host(c.base_url);

  c.api_key = first_non_empty(options.api_key, env_or_empty("WANDB_API_KEY"));
  if (c.api_key.empty()) {
    std::string netrc_path = env_or_empty("NETRC");
    if (netrc_path.empty() && std::getenv("HOME")) netrc_path = env_or_empty("HOME") + "/.netrc";
    if (!netrc_path.empty()) {
      if (auto text = detail::read_file_if_present(netrc_path)) {
        if (auto password = netrc_password(*text, host)) c.api_key = *password;
      }
    }
  }
  if (c.api_key.empty()) {
    throw Error("upload: api_key: no W&B API key found; set WANDB_API_KEY or add 'machine " + host +
                " login user password <key>' to ~/.netrc");
  }
  for (unsigned char ch : c.api_key) {
    // The key goes into an HTTP header: control characters or spaces would break it.
    if (ch <= ' ' || ch == 0x7f) throw Error("upload: api_key: contains whitespace or a control character");
  }
  c.entity = first_non_empty(options.entity, env_or_empty("WANDB_ENTITY"));
  c.project = first_non_empty(options.project, env_or_empty("WANDB_PROJECT"));
  if (c.project.empty()) c.project = "uncategorized";  // W&B's own default project name
  return c;
}

}  // namespace trainscope::detail
