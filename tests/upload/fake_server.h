#pragma once
// Starts tests/upload/fake_wandb_server.py on a free loopback port and talks to its control API.
#include <sys/types.h>

#include <string>

#include <nlohmann/json.hpp>

namespace trainscope::testing {

class FakeWandbServer {
 public:
  // `work_dir` receives the port file, the stored uploads (store/) and the record.
  // With `tls_cert`/`tls_key` (PEM files) it serves HTTPS.
  FakeWandbServer(const std::string& work_dir, const std::string& api_key,
                  const std::string& tls_cert = "", const std::string& tls_key = "");
  ~FakeWandbServer();

  std::string base_url() const {
    return (tls_cert_.empty() ? "http://127.0.0.1:" : "https://127.0.0.1:") + std::to_string(port_);
  }
  std::string store_dir() const { return store_dir_; }
  nlohmann::json state() const;
  void add_faults(const nlohmann::json& rules) const;
  void clear_faults() const;
  void set_slow(int delay_ms) const;
  void go_down(int ms) const;

 private:
  void control(const std::string& path, const nlohmann::json& body) const;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string store_dir_;
  std::string tls_cert_;
};

// Minimal HTTP for the control API (libcurl).
// `ca_file`: the certificate that HTTPS control requests trust.
std::string http_get(const std::string& url, const std::string& ca_file = "");
void http_post_json(const std::string& url, const std::string& body, const std::string& ca_file = "");

}  // namespace trainscope::testing
