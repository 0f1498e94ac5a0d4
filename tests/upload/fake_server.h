#pragma once
// Starts tests/upload/fake_wandb_server.py on a free loopback port and talks to its control API.
#include <sys/types.h>

#include <string>

#include <nlohmann/json.hpp>

namespace trainscope::testing {

class FakeWandbServer {
 public:
  // `work_dir` receives the port file, the stored uploads (store/) and the record.
  FakeWandbServer(const std::string& work_dir, const std::string& api_key);
  ~FakeWandbServer();

  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
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
};

// Minimal HTTP for the control API (libcurl).
std::string http_get(const std::string& url);
void http_post_json(const std::string& url, const std::string& body);

}  // namespace trainscope::testing
