#pragma once
// Where the W&B endpoint, API key, entity and project come from when the options leave them empty:
// WANDB_BASE_URL (default https://api.wandb.ai), WANDB_API_KEY, else the password of ~/.netrc's
// (or $NETRC's) entry for the base URL's host, WANDB_ENTITY, WANDB_PROJECT.
#include <optional>
#include <string>

#include "trainscope/upload/uploader.h"

namespace trainscope::detail {

struct Credentials {
  std::string base_url;  // without a trailing '/'
  std::string api_key;
  std::string entity;    // may stay empty: the server then uses the key's default entity
  std::string project;
};

// Throws Error (never containing the key) when no key is found or the base URL is not http(s).
Credentials resolve_credentials(const UploadOptions& options);

// The password of the netrc entry for `host` (or of its `default` entry) in the text of a netrc
// file; nullopt when there is none.
std::optional<std::string> netrc_password(const std::string& netrc_text, const std::string& host);

// The host part of an http(s) URL (via libcurl's URL parser); throws Error for anything else.
std::string url_host(const std::string& url);

}  // namespace trainscope::detail
