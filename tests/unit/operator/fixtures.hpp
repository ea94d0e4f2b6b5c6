#pragma once
// Real Kubernetes JSON (as kubectl get -o json prints it) for the reconcile tests, and the
// YAML -> JSON reading the manifest tests share.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "ckms/operator/kernel_module.hpp"
#include "ckms/operator/reconcile.hpp"

namespace ckms::op::test {

inline std::filesystem::path data_dir() {
  return std::filesystem::path(CKMS_SOURCE_DIR) / "tests" / "unit" / "operator" / "data";
}

inline std::filesystem::path deploy_dir() { return std::filesystem::path(CKMS_SOURCE_DIR) / "operator" / "deploy"; }

inline nlohmann::json load_json(const std::string& name) {
  std::ifstream in(data_dir() / name);
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

// The cluster the reconcile tests start from: `kernel_module` on the nodes of nodes.json,
// at a fixed time; each test adds the artifacts, pods and workloads it needs.
inline Observed observed_cluster(const nlohmann::json& kernel_module = load_json("kernelmodule.json")) {
  Observed o;
  o.module = parse_kernel_module(kernel_module);
  const nlohmann::json nodes = load_json("nodes.json");
  for (const auto& node : nodes["items"]) o.nodes.push_back(node);
  o.now = "2026-11-23T10:00:00Z";
  return o;
}

// YAML 1.2 core schema scalars: plain `true`, `42`, `null` are typed, quoted ones are strings.
inline nlohmann::json yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& kv : node) out[kv.first.as<std::string>()] = yaml_to_json(kv.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) out.push_back(yaml_to_json(item));
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string text = node.Scalar();
      if (node.Tag() == "!") return text;  // quoted
      if (text == "true" || text == "True") return true;
      if (text == "false" || text == "False") return false;
      if (text == "null" || text == "~") return nullptr;
      if (!text.empty() && text.find_first_not_of("-0123456789") == std::string::npos && text != "-")
        return std::stoll(text);
      return text;
    }
    default: return nullptr;
  }
}

inline std::vector<nlohmann::json> load_yaml_documents(const std::filesystem::path& file) {
  std::vector<nlohmann::json> out;
  for (const auto& doc : YAML::LoadAllFromFile(file.string()))
    if (!doc.IsNull()) out.push_back(yaml_to_json(doc));
  return out;
}

}  // namespace ckms::op::test
