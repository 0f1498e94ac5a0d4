#include "upload/fake_server.h"

#include <curl/curl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace trainscope::testing {
namespace {

size_t append(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

std::string request(const std::string& url, const std::string* body, const std::string& ca_file) {
  CURL* h = curl_easy_init();
  std::string out;
  if (!ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, ca_file.c_str());
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  if (body) curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->c_str());
  const CURLcode code = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  if (code != CURLE_OK || status != 200)
    throw std::runtime_error("control request " + url + " failed: " + curl_easy_strerror(code) +
                             " status " + std::to_string(status));
  return out;
}

}  // namespace

std::string http_get(const std::string& url, const std::string& ca_file) {
  return request(url, nullptr, ca_file);
}
void http_post_json(const std::string& url, const std::string& body, const std::string& ca_file) {
  request(url, &body, ca_file);
}

FakeWandbServer::FakeWandbServer(const std::string& work_dir, const std::string& api_key,
                                 const std::string& tls_cert, const std::string& tls_key)
    : tls_cert_(tls_cert) {
  const std::string source = env_or("TRAINSCOPE_SOURCE_DIR", TRAINSCOPE_TEST_SOURCE_DIR);
  const std::string python = env_or("TRAINSCOPE_PYTHON", "python3");
  const std::string script = source + "/tests/upload/fake_wandb_server.py";
  const std::string port_file = work_dir + "/server.port";
  store_dir_ = work_dir + "/store";
  const std::string record = work_dir + "/server-record.json";
  std::vector<std::string> args = {python, script, "--port-file", port_file, "--store-dir", store_dir_,
                                   "--record", record, "--api-key", api_key, "--lifetime", "100"};
  if (!tls_cert.empty()) {
    args.insert(args.end(), {"--tls-cert", tls_cert, "--tls-key", tls_key});
  }
  pid_ = fork();
  if (pid_ == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  if (pid_ < 0) throw std::runtime_error("fork failed");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(port_file);
    if (in >> port_) return;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("the fake W&B server exited at start (" + python + " " + script + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("the fake W&B server did not start within 20 s");
}

FakeWandbServer::~FakeWandbServer() {
  if (pid_ <= 0) return;
  try {
    control("/_control/shutdown", nlohmann::json::object());
  } catch (...) {
  }
  for (int i = 0; i < 100; ++i) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

void FakeWandbServer::control(const std::string& path, const nlohmann::json& body) const {
  http_post_json(base_url() + path, body.dump(), tls_cert_);
}

nlohmann::json FakeWandbServer::state() const {
  return nlohmann::json::parse(http_get(base_url() + "/_control/state", tls_cert_));
}

void FakeWandbServer::add_faults(const nlohmann::json& rules) const {
  control("/_control/faults", {{"rules", rules}});
}

void FakeWandbServer::clear_faults() const { control("/_control/faults", {{"clear", true}}); }

void FakeWandbServer::set_slow(int delay_ms) const { control("/_control/slow", {{"delay_ms", delay_ms}}); }

void FakeWandbServer::go_down(int ms) const { control("/_control/down", {{"ms", ms}}); }

}  // namespace trainscope::testing
