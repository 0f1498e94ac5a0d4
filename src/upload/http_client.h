#pragma once
// One HTTP connection to W&B or a signed storage URL, over a libcurl easy handle (connections are
// reused between requests). TLS peers are always verified. The API key is sent as basic auth only
// on requests that ask for it (W&B's API, never signed storage URLs) and is scrubbed from every
// error text this layer produces.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

typedef void CURL;

namespace trainscope::detail {

struct HttpRequest {
  std::string method = "POST";  // POST or PUT
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // sent unless upload_fd is set
  int upload_fd = -1;                // PUT the first upload_size bytes of this open file instead
  int64_t upload_size = 0;
  bool authenticate = false;         // basic auth api:<key>
  double timeout_seconds = 0;        // whole request; 0: only the stall timeout applies
};

struct HttpResponse {
  long status = 0;                  // 0: no HTTP response (connection error, timeout)
  std::string body;
  std::string transport_error;      // why there was no response, already scrubbed
  bool permanent = false;           // no retry can help (TLS verification failed, bad URL)
  bool unresolved = false;          // the host name (or proxy) did not resolve
  std::string content_type;         // of the answer, lower case
  std::optional<double> retry_after_seconds;
};

class Cancellation;

struct HttpSettings {
  std::string api_key;
  const Cancellation* cancellation = nullptr;  // aborts a transfer in flight when cancelled
  std::string ca_bundle;  // empty: libcurl's default CA store
  double connect_timeout_seconds = 20;
  double stall_seconds = 60;  // abort when fewer than 1 byte/s moved for this long
};

class HttpClient {
 public:
  explicit HttpClient(HttpSettings settings);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Never throws for network trouble: the response says what happened.
  HttpResponse perform(const HttpRequest& request);

  // `text` with every form of the API key the client sends replaced by "***": the key, the
  // basic-auth credentials "api:<key>" and their base64 (as in the Authorization header, which
  // servers and proxies may echo in an error page), also JSON- and URL-escaped.
  std::string scrub(std::string text) const;

 private:
  HttpSettings settings_;
  std::vector<std::string> secrets_;  // longest first, so no form is left half-replaced
  CURL* handle_ = nullptr;
};

// Seconds from a Retry-After header value: delta-seconds or an HTTP date (relative to now).
std::optional<double> parse_retry_after(const std::string& value);

// Replaces every occurrence of `secret` in `text` with "***" (no-op for an empty secret).
std::string scrub_secret(std::string text, const std::string& secret);

// Standard base64 with padding (RFC 4648), as basic auth encodes credentials.
std::string base64_encode(const std::string& bytes);

// The forms of `api_key` that scrub() removes, longest first.
std::vector<std::string> secret_forms(const std::string& api_key);

}  // namespace trainscope::detail
