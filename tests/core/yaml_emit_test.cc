// Tests of the YAML printer (core/yaml_emit.h): what `bosun get -o yaml`
// shows looks like kubectl's output, and reads back through the manifest
// loader (core/yaml.h) as the same JSON, whatever the strings hold.

#include "core/yaml_emit.h"

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/yaml.h"

namespace bosun {
namespace {

using nlohmann::json;

// Loads text that must hold exactly one document.
json ReadBack(const std::string& text) {
  auto docs = LoadYaml(text, "emitted.yaml");
  EXPECT_TRUE(docs.ok()) << (docs.ok() ? "" : docs.error().message()) << "\n--- text:\n" << text;
  if (!docs.ok()) return json("<<load failed>>");
  EXPECT_EQ(docs->size(), 1u) << text;
  if (docs->size() != 1) return json("<<not one document>>");
  return (*docs)[0].value;
}

void ExpectRoundTrip(const json& j) {
  std::string text = EmitYaml(j);
  EXPECT_EQ(ReadBack(text), j) << "--- emitted:\n" << text;
}

TEST(YamlEmit, PrintsLikeKubectl) {
  json deploy = json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"},
                 "annotations": {"deployment.kubernetes.io/revision": "1"},
                 "creationTimestamp": "2026-11-21T20:49:01Z", "generation": 3},
    "spec": {"replicas": 2, "paused": false,
             "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web", "image": "nginx:1.25",
                                                   "args": ["-c", "echo hi"],
                                                   "ports": [{"containerPort": 80}],
                                                   "env": [], "resources": {}}]}}}
  })");
  EXPECT_EQ(EmitYaml(deploy),
            "apiVersion: apps/v1\n"
            "kind: Deployment\n"
            "metadata:\n"
            "  annotations:\n"
            "    deployment.kubernetes.io/revision: \"1\"\n"
            "  creationTimestamp: \"2026-11-21T20:49:01Z\"\n"
            "  generation: 3\n"
            "  labels:\n"
            "    app: web\n"
            "  name: web\n"
            "  namespace: shop\n"
            "spec:\n"
            "  paused: false\n"
            "  replicas: 2\n"
            "  selector:\n"
            "    matchLabels:\n"
            "      app: web\n"
            "  template:\n"
            "    metadata:\n"
            "      labels:\n"
            "        app: web\n"
            "    spec:\n"
            "      containers:\n"
            "      - args:\n"
            "        - -c\n"
            "        - echo hi\n"
            "        env: []\n"
            "        image: nginx:1.25\n"
            "        name: web\n"
            "        ports:\n"
            "        - containerPort: 80\n"
            "        resources: {}\n");
  ExpectRoundTrip(deploy);
}

TEST(YamlEmit, MultiLineStringsAreLiteralBlocks) {
  json cm = {{"data", {{"nginx.conf", "server {\n  listen 80;\n}\n"}, {"script", "a\nb"}, {"keep", "x\n\n\n"}}}};
  EXPECT_EQ(EmitYaml(cm),
            "data:\n"
            "  keep: |+\n"
            "    x\n"
            "\n"
            "\n"
            "  nginx.conf: |\n"
            "    server {\n"
            "      listen 80;\n"
            "    }\n"
            "  script: |-\n"
            "    a\n"
            "    b\n");
  ExpectRoundTrip(cm);
}

TEST(YamlEmit, QuotesStringsThatWouldReadBackAsSomethingElse) {
  json j = {{"a", "true"}, {"b", "1"},   {"c", ""},    {"d", "null"}, {"e", "~"},
            {"f", "0x10"}, {"g", "1e3"}, {"h", "yes"}, {"i", "web"}};
  EXPECT_EQ(EmitYaml(j),
            "a: \"true\"\nb: \"1\"\nc: \"\"\nd: \"null\"\ne: \"~\"\nf: \"0x10\"\ng: \"1e3\"\nh: \"yes\"\ni: web\n");
  ExpectRoundTrip(j);
}

TEST(YamlEmit, TrickyStringsRoundTripAsValuesKeysAndListItems) {
  const std::vector<std::string> tricky = {
      "true",
      "false",
      "True",
      "yes",
      "no",
      "on",
      "off",
      "y",
      "n",
      "1",
      "-1",
      "+1",
      "0",
      "007",
      "0o17",
      "0x10",
      "0b101",
      "1_000",
      "1e3",
      "1.5",
      ".5",
      "1.",
      "-.inf",
      ".nan",
      ".NaN",
      "",
      " ",
      "  ",
      "null",
      "Null",
      "~",
      "a: b",
      "a:b",
      "a:",
      ":",
      "::",
      "- x",
      "-",
      "--",
      "---",
      "...",
      "-x",
      "? x",
      "?",
      "#",
      "# c",
      "a #b",
      "a#b",
      "*alias",
      "&anchor",
      "!tag",
      "!!str",
      "%dir",
      "@at",
      "`tick",
      "|",
      ">",
      "'",
      "\"",
      "'quoted'",
      "\"dq\"",
      "[a, b]",
      "{a: b}",
      "a, b",
      "a]",
      " leading",
      "trailing ",
      "\ttab",
      "tab\t",
      "a\tb",
      "<<",
      "2026-11-21",
      "2026-11-21T20:49:01Z",
      "12:30",
      "1:20:30",
      "ünïcødé",
      "日本語",
      "emoji 😀",
      "\u00a0nbsp",
      "line\nbreak",
      "\n",
      "\n\n",
      "a\n",
      "a\n\n",
      "\na",
      "  indented\nblock",
      "\n  lead",
      "cr\r\nlf",
      "\r",
      std::string("nul\0byte", 8),
      "bell\u0007",
      "esc\u001b[0m",
      "del\u007f",
      "nel\u0085",
      "ls\u2028ps\u2029",
      "\ufeffbom",
      "c1\u0090",
      "trailing space line \nx",
      "x\n   \ny",
      "x\n\t\ty",
      "\t\n",
      " \n ",
      "a\\b",
      "back\\slash\n",
      "very long " + std::string(2000, 'x'),
      "%",
      "=",
      "a=b",
      "0.0.0.0/0",
      "http://x:80/a?b#c",
      "C:\\dir",
  };
  for (const std::string& s : tricky) {
    SCOPED_TRACE("string: " + json(s).dump());
    ExpectRoundTrip(json{{"v", s}});
    ExpectRoundTrip(json{{s, "k"}});
    ExpectRoundTrip(json{{"l", {s, s}}});
    ExpectRoundTrip(json::array({json{{s, s}}, json::array({s})}));
    ExpectRoundTrip(json(s));
  }
}

TEST(YamlEmit, NumbersBooleansNullAndEmptyContainers) {
  json j = {{"int", 42},
            {"neg", -7},
            {"big", 9007199254740993LL},
            {"u", 18446744073709551615ULL},
            {"float", 1.5},
            {"small", 1e-7},
            {"huge", 1e300},
            {"t", true},
            {"f", false},
            {"n", nullptr},
            {"em", json::object()},
            {"ea", json::array()},
            {"nested", {{"l", json::array({json::array(), json::object(), nullptr, 0})}}}};
  ExpectRoundTrip(j);
  EXPECT_THAT(EmitYaml(j), ::testing::HasSubstr("\"n\": null\n"));  // "n" is a YAML 1.1 boolean
  EXPECT_THAT(EmitYaml(j), ::testing::HasSubstr("em: {}\n"));
  EXPECT_EQ(EmitYaml(json::object()), "{}\n");
  EXPECT_EQ(EmitYaml(json::array()), "[]\n");
  EXPECT_EQ(EmitYaml(json(3)), "3\n");
  EXPECT_EQ(EmitYaml(json(std::nan(""))), ".nan\n");
}

TEST(YamlEmit, NestedListsAndMapsInLists) {
  json j = json::parse(R"({"a": [[1, [2, 3]], [], {"x": [{"y": "z", "w": ["v"]}], "m": "a\nb"}, "s"]})");
  EXPECT_EQ(EmitYaml(j),
            "a:\n"
            "- - 1\n"
            "  - - 2\n"
            "    - 3\n"
            "- []\n"
            "- m: |-\n"
            "    a\n"
            "    b\n"
            "  x:\n"
            "  - w:\n"
            "    - v\n"
            "    \"y\": z\n"  // "y" reads as a boolean unquoted
            "- s\n");
  ExpectRoundTrip(j);
}

TEST(YamlEmit, LongKeysUseTheExplicitForm) {
  std::string key(1500, 'k');
  json j = {{key, {{"a", 1}}}, {"b", {key, key}}};
  EXPECT_THAT(EmitYaml(j), ::testing::HasSubstr("? " + key + "\n:\n"));
  ExpectRoundTrip(j);
}

// Random documents from an alphabet rich in YAML's special characters: any
// string the rules above missed shows up here as a failed round trip.
TEST(YamlEmit, RandomDocumentsRoundTrip) {
  std::mt19937 rng(20261121);
  const std::vector<std::string> atoms = {"a", "Z",  "0",  "1",      "-",  "?",    ":",    " ", "#", "\n", "\t",
                                          "'", "\"", "\\", "[",      "]",  "{",    "}",    ",", "&", "*",  "!",
                                          "|", ">",  "%",  "@",      "`",  "~",    ".",    "e", "x", "_",  "+",
                                          "é", "日", "\r", "\u2028", "<<", "true", "null", "="};
  auto random_string = [&] {
    std::string s;
    int n = std::uniform_int_distribution<int>(0, 6)(rng);
    for (int i = 0; i < n; ++i) s += atoms[std::uniform_int_distribution<size_t>(0, atoms.size() - 1)(rng)];
    return s;
  };
  std::function<json(int)> random_value = [&](int depth) -> json {
    int pick = std::uniform_int_distribution<int>(0, depth > 3 ? 2 : 5)(rng);
    switch (pick) {
      case 0:
        return random_string();
      case 1:
        return std::uniform_int_distribution<int>(-1000, 1000)(rng);
      case 2:
        return random_string();
      case 3: {
        json m = json::object();
        int n = std::uniform_int_distribution<int>(0, 4)(rng);
        for (int i = 0; i < n; ++i) m[random_string()] = random_value(depth + 1);
        return m;
      }
      default: {
        json a = json::array();
        int n = std::uniform_int_distribution<int>(0, 4)(rng);
        for (int i = 0; i < n; ++i) a.push_back(random_value(depth + 1));
        return a;
      }
    }
  };
  for (int i = 0; i < 2000; ++i) {
    json doc = {{"root", random_value(0)}};
    std::string text = EmitYaml(doc);
    json back = ReadBack(text);
    ASSERT_EQ(back, doc) << "--- emitted:\n" << text;
  }
}

}  // namespace
}  // namespace bosun
