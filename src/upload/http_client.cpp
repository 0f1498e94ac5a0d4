#include "upload/http_client.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

#include "trainscope/error.h"
#include "upload/cancellation.h"

namespace trainscope::detail {
namespace {

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t collect_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

struct HeaderCapture {
  std::string retry_after;
  std::string content_type;
};

size_t collect_header(char* data, size_t size, size_t count, void* user) {
  const size_t n = size * count;
  std::string line(data, n);
  const auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    std::string value = line.substr(colon + 1);
    const auto first = value.find_first_not_of(" \t");
    const auto last = value.find_last_not_of(" \t\r\n");
    value = first == std::string::npos ? "" : value.substr(first, last - first + 1);
    if (name == "retry-after") static_cast<HeaderCapture*>(user)->retry_after = value;
    if (name == "content-type") {
      std::transform(value.begin(), value.end(), value.begin(),
                     [](unsigned char c) { return char(std::tolower(c)); });
      static_cast<HeaderCapture*>(user)->content_type = value;
    }
  }
  return n;
}

// Reads the upload from a file descriptor with pread, so a retry inside libcurl can rewind.
struct FileSource {
  int fd = -1;
  int64_t size = 0;
  int64_t position = 0;
};

size_t read_file_source(char* buffer, size_t size, size_t count, void* user) {
  auto* source = static_cast<FileSource*>(user);
  const int64_t want = std::min<int64_t>(int64_t(size * count), source->size - source->position);
  if (want <= 0) return 0;
  const ssize_t got = pread(source->fd, buffer, size_t(want), off_t(source->position));
  if (got < 0) return CURL_READFUNC_ABORT;
  if (got == 0) return CURL_READFUNC_ABORT;  // file shorter than announced
  source->position += got;
  return size_t(got);
}

int seek_file_source(void* user, curl_off_t offset, int origin) {
  auto* source = static_cast<FileSource*>(user);
  if (origin != SEEK_SET || offset < 0 || offset > source->size) return CURL_SEEKFUNC_FAIL;
  source->position = offset;
  return CURL_SEEKFUNC_OK;
}

int abort_when_cancelled(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* cancellation = static_cast<const Cancellation*>(user);
  return cancellation && cancellation->cancelled() ? 1 : 0;
}

long to_millis(double seconds) { return seconds <= 0 ? 0 : std::max(1L, long(seconds * 1000.0)); }

}  // namespace

std::string scrub_secret(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
    text.replace(at, secret.size(), "***");
    at += 3;
  }
  return text;
}

std::string base64_encode(const std::string& bytes) {
  static const char* const kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (n > 1) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    if (n > 2) v |= uint32_t(uint8_t(bytes[i + 2]));
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(n > 1 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back(n > 2 ? kAlphabet[v & 63] : '=');
  }
  return out;
}

std::vector<std::string> secret_forms(const std::string& api_key) {
  if (api_key.empty()) return {};
  std::vector<std::string> forms;
  auto add_escapings = [&forms](const std::string& s) {
    forms.push_back(s);
    std::string json_escaped, url_escaped;
    for (char c : s) {
      json_escaped += c == '/' ? std::string("\\/") : std::string(1, c);
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '~') {
        url_escaped += c;
      } else {
        char buf[4];
        std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
        url_escaped += buf;
      }
    }
    forms.push_back(json_escaped);
    forms.push_back(url_escaped);
  };
  const std::string credentials = "api:" + api_key;
  const std::string encoded = base64_encode(credentials);
  add_escapings(encoded);
  std::string unpadded = encoded.substr(0, encoded.find('='));
  add_escapings(unpadded);
  add_escapings(credentials);
  add_escapings(api_key);
  std::sort(forms.begin(), forms.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  });
  forms.erase(std::unique(forms.begin(), forms.end()), forms.end());
  return forms;
}

std::optional<double> parse_retry_after(const std::string& value) {
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](unsigned char c) { return std::isdigit(c); })) {
    try {
      return std::stod(value);
    } catch (...) {
      return std::nullopt;
    }
  }
  const time_t when = curl_getdate(value.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  return std::max(0.0, std::difftime(when, std::time(nullptr)));
}

HttpClient::HttpClient(HttpSettings settings)
    : settings_(std::move(settings)), secrets_(secret_forms(settings_.api_key)) {
  init_curl_once();
  handle_ = curl_easy_init();
  if (!handle_) throw Error("upload: could not create a libcurl handle");
}

HttpClient::~HttpClient() { curl_easy_cleanup(handle_); }

std::string HttpClient::scrub(std::string text) const {
  for (const auto& secret : secrets_) text = scrub_secret(std::move(text), secret);
  return text;
}

HttpResponse HttpClient::perform(const HttpRequest& request) {
  HttpResponse response;
  HeaderCapture headers;
  FileSource source{request.upload_fd, request.upload_size, 0};
  char error_buffer[CURL_ERROR_SIZE] = {0};

  CURL* h = handle_;
  curl_easy_reset(h);  // keeps the connection cache, forgets the previous request's options
  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!settings_.ca_bundle.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, settings_.ca_bundle.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, to_millis(settings_.connect_timeout_seconds));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, to_millis(request.timeout_seconds));
  if (settings_.stall_seconds > 0) {
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, std::max(1L, long(settings_.stall_seconds + 0.5)));
  }
  curl_easy_setopt(h, CURLOPT_USERAGENT, "trainscope-upload/0.1");
  if (settings_.cancellation) {
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, abort_when_cancelled);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, settings_.cancellation);
  }
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, collect_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &headers);
  if (request.authenticate) {
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, long(CURLAUTH_BASIC));
    curl_easy_setopt(h, CURLOPT_USERNAME, "api");
    curl_easy_setopt(h, CURLOPT_PASSWORD, settings_.api_key.c_str());
  }

  curl_slist* header_list = curl_slist_append(nullptr, "Expect:");  // no 100-continue round trip
  for (const auto& header : request.headers) header_list = curl_slist_append(header_list, header.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, header_list);

  if (request.upload_fd >= 0) {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_file_source);
    curl_easy_setopt(h, CURLOPT_READDATA, &source);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_file_source);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, &source);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, curl_off_t(request.upload_size));
    if (request.method != "PUT") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  } else {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.size()));
    if (request.method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  const CURLcode code = curl_easy_perform(h);
  curl_slist_free_all(header_list);
  // Forget the key on the handle right away; it is set again for the next authenticated request.
  curl_easy_setopt(h, CURLOPT_PASSWORD, "");

  if (code != CURLE_OK) {
    std::string why = error_buffer[0] ? error_buffer : curl_easy_strerror(code);
    response.transport_error = scrub(why);
    response.status = 0;
    switch (code) {
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_ISSUER_ERROR:
      case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      case CURLE_URL_MALFORMAT:
      case CURLE_UNSUPPORTED_PROTOCOL:
        response.permanent = true;
        break;
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
        response.unresolved = true;
        break;
      default:
        break;
    }
    response.body.clear();
    return response;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  response.retry_after_seconds = parse_retry_after(headers.retry_after);
  response.content_type = headers.content_type;
  return response;
}

}  // namespace trainscope::detail
