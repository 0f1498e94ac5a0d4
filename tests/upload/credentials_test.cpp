#include "upload/credentials.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <map>

#include "trainscope/error.h"
#include "upload/run_fixture.h"

namespace trainscope::detail {
namespace {

// Sets environment variables for one test and restores them afterwards.
class ScopedEnv {
 public:
  void set(const char* name, const std::string& value) {
    remember(name);
    setenv(name, value.c_str(), 1);
  }
  void unset(const char* name) {
    remember(name);
    unsetenv(name);
  }
  ~ScopedEnv() {
    for (auto& [name, value] : saved_) {
      if (value.first) setenv(name.c_str(), value.second.c_str(), 1);
      else unsetenv(name.c_str());
    }
  }

 private:
  void remember(const char* name) {
    if (saved_.count(name)) return;
    const char* v = getenv(name);
    saved_[name] = {v != nullptr, v ? v : ""};
  }
  std::map<std::string, std::pair<bool, std::string>> saved_;
};

TEST(Netrc, FindsTheEntryForTheHost) {
  const std::string netrc =
      "# comment\n"
      "machine example.com login a password nope\n"
      "machine api.wandb.ai\n  login user\n  password k1234\n"
      "default login x password fallback\n";
  EXPECT_EQ(netrc_password(netrc, "api.wandb.ai"), "k1234");
  EXPECT_EQ(netrc_password(netrc, "example.com"), "nope");
  EXPECT_EQ(netrc_password(netrc, "other.host"), "fallback");
  EXPECT_EQ(netrc_password("machine a login b password c\n", "z"), std::nullopt);
  EXPECT_EQ(netrc_password("macdef init\ncd /\nmachine h password inside\n\nmachine h password real\n", "h"),
            "real");
}

TEST(UrlHost, AcceptsHttpAndHttpsOnly) {
  EXPECT_EQ(url_host("https://api.wandb.ai"), "api.wandb.ai");
  EXPECT_EQ(url_host("http://127.0.0.1:8080/x"), "127.0.0.1");
  EXPECT_THROW(url_host("ftp://host"), Error);
  EXPECT_THROW(url_host("not a url"), Error);
}

TEST(Credentials, OptionsThenEnvironmentThenNetrc) {
  ScopedEnv env;
  const std::string dir = trainscope::testing::make_temp_dir("cred");
  {
    std::ofstream(dir + "/netrc") << "machine wandb.example.org login user password from-netrc\n";
  }
  env.set("NETRC", dir + "/netrc");
  env.set("WANDB_BASE_URL", "https://wandb.example.org/");
  env.unset("WANDB_API_KEY");
  env.set("WANDB_ENTITY", "env-entity");
  env.unset("WANDB_PROJECT");

  UploadOptions o;
  Credentials c = resolve_credentials(o);
  EXPECT_EQ(c.base_url, "https://wandb.example.org");
  EXPECT_EQ(c.api_key, "from-netrc");
  EXPECT_EQ(c.entity, "env-entity");
  EXPECT_EQ(c.project, "uncategorized");

  env.set("WANDB_API_KEY", "from-env");
  env.set("WANDB_PROJECT", "env-project");
  c = resolve_credentials(o);
  EXPECT_EQ(c.api_key, "from-env");
  EXPECT_EQ(c.project, "env-project");

  o.api_key = "from-options";
  o.entity = "opt-entity";
  o.base_url = "http://127.0.0.1:9";
  c = resolve_credentials(o);
  EXPECT_EQ(c.api_key, "from-options");
  EXPECT_EQ(c.entity, "opt-entity");
  EXPECT_EQ(c.base_url, "http://127.0.0.1:9");
  trainscope::testing::remove_tree(dir);
}

TEST(Credentials, DefaultBaseUrlAndMissingKeyError) {
  ScopedEnv env;
  env.unset("WANDB_BASE_URL");
  env.unset("WANDB_API_KEY");
  env.set("NETRC", "/nonexistent/netrc");
  UploadOptions o;
  try {
    resolve_credentials(o);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("WANDB_API_KEY"), std::string::npos) << message;
    EXPECT_NE(message.find("api.wandb.ai"), std::string::npos) << message;
  }
  o.api_key = "bad key";
  EXPECT_THROW(resolve_credentials(o), Error);
}

}  // namespace
}  // namespace trainscope::detail
