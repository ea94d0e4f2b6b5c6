#include "ckms/oci/image_config.hpp"

#include <nlohmann/json.hpp>

#include "ckms/base/error.hpp"
#include "ckms/oci/manifest.hpp"

namespace ckms::oci {

ImageConfig ImageConfig::parse(std::string_view bytes, std::string_view where) {
  if (bytes.size() > kMaxManifestBytes) {
    fail(ErrorKind::refused, "{}: image config larger than {} bytes", where, kMaxManifestBytes);
  }
  const nlohmann::json j = nlohmann::json::parse(bytes, nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail(ErrorKind::integrity, "{}: not a JSON object", where);
  ImageConfig c;
  try {
    c.architecture = j.value("architecture", "");
    c.os = j.value("os", "");
    if (j.contains("created")) c.created = j.at("created").get<std::string>();
    if (const auto it = j.find("config"); it != j.end() && it->is_object()) {
      c.env = it->value("Env", std::vector<std::string>{});
      if (it->contains("Cmd") && !it->at("Cmd").is_null()) c.cmd = it->at("Cmd").get<std::vector<std::string>>();
      c.working_dir = it->value("WorkingDir", "");
      if (it->contains("Labels") && !it->at("Labels").is_null()) {
        c.labels = it->at("Labels").get<std::map<std::string, std::string>>();
      }
    }
    if (const auto it = j.find("rootfs"); it != j.end()) {
      for (const auto& id : it->value("diff_ids", std::vector<std::string>{})) {
        c.diff_ids.push_back(Digest::parse(id));
      }
    }
    if (const auto it = j.find("history"); it != j.end() && it->is_array()) {
      for (const auto& h : *it) c.history_comments.push_back(h.value("comment", ""));
    }
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::integrity, "{}: {}", where, e.what());
  }
  return c;
}

std::string ImageConfig::serialize() const {
  nlohmann::json config = nlohmann::json::object();
  if (!env.empty()) config["Env"] = env;
  if (!cmd.empty()) config["Cmd"] = cmd;
  if (!working_dir.empty()) config["WorkingDir"] = working_dir;
  if (!labels.empty()) config["Labels"] = labels;
  nlohmann::json ids = nlohmann::json::array();
  for (const auto& d : diff_ids) ids.push_back(d.str());
  nlohmann::json j = {{"architecture", architecture},
                      {"os", os},
                      {"config", config},
                      {"rootfs", {{"type", "layers"}, {"diff_ids", ids}}}};
  if (created) j["created"] = *created;
  if (!history_comments.empty()) {
    nlohmann::json history = nlohmann::json::array();
    for (const auto& comment : history_comments) {
      nlohmann::json entry = {{"created_by", "ckms"}, {"comment", comment}};
      if (created) entry["created"] = *created;
      history.push_back(entry);
    }
    j["history"] = history;
  }
  return j.dump();
}

}  // namespace ckms::oci
