// Tests of the manifest loader (core/yaml.h) as a user relies on it: what a
// YAML or JSON file turns into, where each value came from, and how hostile or
// broken input is refused with a message naming file:line:col.

#include "core/yaml.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace bosun {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kFile = "deploy/web.yaml";

// Loads `text`; on failure the test fails and an empty vector is returned.
std::vector<Document> Load(std::string_view text, const LoadLimits& limits = {}) {
  auto r = LoadYaml(text, kFile, limits);
  EXPECT_TRUE(r.ok()) << r.error().message();
  if (!r.ok()) return {};
  return std::move(r).value();
}

// Loads a text that must hold exactly one document and returns its value.
json One(std::string_view text, const LoadLimits& limits = {}) {
  std::vector<Document> docs = Load(text, limits);
  EXPECT_EQ(docs.size(), 1u) << text;
  if (docs.size() != 1) return json();
  return docs[0].value;
}

// Loads a text that must be refused and returns the error message (or a marker
// that cannot match any expectation when it loaded).
std::string Err(std::string_view text, const LoadLimits& limits = {}) {
  auto r = LoadYaml(text, kFile, limits);
  EXPECT_FALSE(r.ok()) << "loaded, expected an error: " << text.substr(0, 200);
  if (r.ok()) return "<<loaded without error>>";
  EXPECT_EQ(r.error().code(), Code::kInvalid) << r.error().message();
  return r.error().message();
}

std::string Repeat(std::string_view s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out.append(s);
  return out;
}

SourcePos Pos(const Document& d, const std::string& path) {
  return d.positions->Find(FieldPath(path));
}

#define EXPECT_POS(doc, path, l, c)                      \
  do {                                                   \
    SourcePos p_ = Pos((doc), (path));                   \
    EXPECT_EQ(p_.line, (l)) << "line of " << (path);     \
    EXPECT_EQ(p_.column, (c)) << "column of " << (path); \
  } while (0)

// ---------------------------------------------------------------------------
// Multi-document files

TEST(YamlLoad, MultiDocumentFileWithSeparatorsCommentsAndEmptyDocuments) {
  const char* text =
      "# The web tier.\n"                      // 1
      "---\n"                                  // 2
      "apiVersion: v1\n"                       // 3
      "kind: Service\n"                        // 4
      "metadata: {name: web}\n"                // 5
      "---\n"                                  // 6
      "# nothing but a comment\n"              // 7
      "---\n"                                  // 8
      "---\n"                                  // 9
      "apiVersion: v1   # trailing comment\n"  // 10
      "kind: ConfigMap\n"                      // 11
      "metadata:\n"                            // 12
      "  name: web-config # another\n"         // 13
      "data:\n"                                // 14
      "  # a comment inside a map\n"           // 15
      "  key: value\n"                         // 16
      "...\n"                                  // 17
      "---\n"                                  // 18
      "- a list document\n"                    // 19
      "---\n";                                 // 20: an empty last document
  std::vector<Document> docs = Load(text);
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0].value["kind"], "Service");
  EXPECT_EQ(docs[1].value["kind"], "ConfigMap");
  EXPECT_EQ(docs[1].value["data"], json({{"key", "value"}}));
  EXPECT_EQ(docs[1].value["apiVersion"], "v1");
  EXPECT_EQ(docs[1].value["metadata"]["name"], "web-config");
  EXPECT_EQ(docs[2].value, json::array({"a list document"}));
  // Indexes count the non-empty documents only.
  for (size_t i = 0; i < docs.size(); ++i) {
    EXPECT_EQ(docs[i].index, static_cast<int>(i));
    EXPECT_EQ(docs[i].file, kFile);
    ASSERT_NE(docs[i].positions, nullptr);
  }
  // A document starts where its root value does, not at its `---`.
  EXPECT_EQ(docs[0].start.line, 3);
  EXPECT_EQ(docs[0].start.column, 1);
  EXPECT_EQ(docs[1].start.line, 10);
  EXPECT_EQ(docs[2].start.line, 19);
  // Positions are lines of the file, not of the document.
  EXPECT_POS(docs[1], "kind", 11, 7);
  EXPECT_POS(docs[1], "data.key", 16, 8);
  EXPECT_POS(docs[2], "[0]", 19, 3);
}

TEST(YamlLoad, DocumentWithoutSeparator) {
  std::vector<Document> docs = Load("# comment\n\napiVersion: v1\nkind: Namespace\n");
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].value, json({{"apiVersion", "v1"}, {"kind", "Namespace"}}));
  EXPECT_EQ(docs[0].start.line, 3);
  EXPECT_EQ(docs[0].start.column, 1);
}

TEST(YamlLoad, FilesWithNoDocumentLoadToNothing) {
  EXPECT_TRUE(Load("").empty());
  EXPECT_TRUE(Load("\n\n").empty());
  EXPECT_TRUE(Load("# only a comment\n# and another\n").empty());
  EXPECT_TRUE(Load("---\n").empty());
  EXPECT_TRUE(Load("---\n---\n# c\n---\n...\n").empty());
}

TEST(YamlLoad, ManyDocuments) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "---\nname: cm-" + std::to_string(i) + "\n---\n# empty\n";
  std::vector<Document> docs = Load(text);
  ASSERT_EQ(docs.size(), 200u);
  EXPECT_EQ(docs[199].index, 199);
  EXPECT_EQ(docs[199].value["name"], "cm-199");
  EXPECT_POS(docs[199], "name", 199 * 4 + 2, 7);
}

TEST(YamlLoad, CrlfAndByteOrderMark) {
  EXPECT_EQ(One("a: 1\r\nb: two\r\n"), json({{"a", 1}, {"b", "two"}}));
  EXPECT_EQ(One("\xEF\xBB\xBF"
                "a: 1\n"),
            json({{"a", 1}}));
}

// Files joined with `cat` keep each one's byte order mark: YAML allows one
// at the start of every document. One inside a value is the value's.
TEST(YamlLoad, AByteOrderMarkMayStartEveryDocument) {
  std::vector<Document> docs = Load(
      "\xEF\xBB\xBF"
      "a: 1\r\n---\r\n\xEF\xBB\xBF"
      "b: 2\n--- \n\xEF\xBB\xBF"
      "c: 3\n...\n\xEF\xBB\xBF"
      "---\nd: |\n  x\n  \xEF\xBB\xBFy\n");
  ASSERT_EQ(docs.size(), 4u);
  EXPECT_EQ(docs[1].value, json({{"b", 2}}));
  EXPECT_POS(docs[1], "b", 3, 4);  // the value, counted without the mark
  EXPECT_EQ(docs[2].value, json({{"c", 3}}));
  EXPECT_EQ(docs[3].value, json({{"d", "x\n\xEF\xBB\xBFy\n"}}));
  // Not after a document marker: still an error, placed.
  EXPECT_THAT(Err("a: 1\n\xEF\xBB\xBF"
                  "b: 2\n"),
              StartsWith(std::string(kFile) + ":2:"));
}

TEST(YamlLoad, OneBadDocumentRefusesTheWholeFile) {
  auto r = LoadYaml("a: 1\n---\nb: 2\n---\nc: 3\nc: 4\n", kFile);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(),
            std::string(kFile) + ":6:1: c: duplicate key \"c\" (first defined at line 5, column 1)");
}

TEST(YamlLoad, AnchorsDoNotCrossDocuments) {
  EXPECT_EQ(Err("a: &x 1\n---\nb: *x\n"), std::string(kFile) + ":3:4: alias *x refers to an unknown anchor");
}

// ---------------------------------------------------------------------------
// Kubernetes typing (sigs.k8s.io/yaml: YAML 1.1 resolution, then JSON)

TEST(YamlTyping, QuotedScalarsStayStrings) {
  json v = One("a: \"1\"\nb: '1'\nc: \"true\"\nd: 'yes'\ne: \"null\"\nf: \"\"\ng: '0x1F'\nh: \"1.5\"\ni: '~'\n");
  EXPECT_EQ(v, json({{"a", "1"},
                     {"b", "1"},
                     {"c", "true"},
                     {"d", "yes"},
                     {"e", "null"},
                     {"f", ""},
                     {"g", "0x1F"},
                     {"h", "1.5"},
                     {"i", "~"}}));
}

TEST(YamlTyping, Integers) {
  json v =
      One("replicas: 3\nneg: -42\nplus: +12\nzero: 0\nhex: 0x1F\nhexneg: -0x10\noct: 0o17\nold_oct: 017\n"
          "bin: 0b101\nunderscores: 1_000\nbig_under: 1_000_000\n");
  EXPECT_EQ(v["replicas"], 3);
  EXPECT_TRUE(v["replicas"].is_number_integer());
  EXPECT_EQ(v["neg"], -42);
  EXPECT_EQ(v["plus"], 12);
  EXPECT_EQ(v["zero"], 0);
  EXPECT_EQ(v["hex"], 31);
  EXPECT_EQ(v["hexneg"], -16);
  EXPECT_EQ(v["oct"], 15);
  EXPECT_EQ(v["old_oct"], 15);
  EXPECT_EQ(v["bin"], 5);
  EXPECT_EQ(v["underscores"], 1000);
  EXPECT_EQ(v["big_under"], 1000000);
  for (const auto& [k, x] : v.items()) EXPECT_TRUE(x.is_number_integer()) << k;
  EXPECT_EQ(v.dump(), R"({"big_under":1000000,"bin":5,"hex":31,"hexneg":-16,"neg":-42,"oct":15,)"
                      R"("old_oct":15,"plus":12,"replicas":3,"underscores":1000,"zero":0})");
}

TEST(YamlTyping, BigIntegers) {
  json v =
      One("max: 9223372036854775807\nmin: -9223372036854775808\nu64: 18446744073709551615\n"
          "huge: 123456789012345678901234567890\nhugeneg: -9223372036854775809\n");
  EXPECT_TRUE(v["max"].is_number_integer());
  EXPECT_EQ(v["max"].get<int64_t>(), INT64_MAX);
  EXPECT_EQ(v["min"].get<int64_t>(), INT64_MIN);
  EXPECT_TRUE(v["u64"].is_number_unsigned());
  EXPECT_EQ(v["u64"].get<uint64_t>(), UINT64_MAX);
  // Past 64 bits YAML 1.1 (go-yaml) falls back to a float, as Kubernetes sees it.
  EXPECT_TRUE(v["huge"].is_number_float());
  EXPECT_DOUBLE_EQ(v["huge"].get<double>(), 1.2345678901234568e29);
  EXPECT_TRUE(v["hugeneg"].is_number_float());
  EXPECT_DOUBLE_EQ(v["hugeneg"].get<double>(), -9223372036854775809.0);
}

TEST(YamlTyping, FloatsAndIntegralFloats) {
  json v = One("a: 3.0\nb: 1.5\nc: 1e3\nd: .5\ne: -2.50\nf: 1.\ng: 1.5e-3\nh: 2.0e20\ni: 0.0\n");
  // Go's JSON encoder writes an integral float64 without a fraction.
  EXPECT_TRUE(v["a"].is_number_integer());
  EXPECT_EQ(v["a"], 3);
  EXPECT_TRUE(v["b"].is_number_float());
  EXPECT_DOUBLE_EQ(v["b"].get<double>(), 1.5);
  EXPECT_EQ(v["c"], 1000);
  EXPECT_TRUE(v["c"].is_number_integer());
  EXPECT_DOUBLE_EQ(v["d"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(v["e"].get<double>(), -2.5);
  EXPECT_EQ(v["f"], 1);
  EXPECT_DOUBLE_EQ(v["g"].get<double>(), 0.0015);
  // Beyond 2^53 an integral float stays a float.
  EXPECT_TRUE(v["h"].is_number_float());
  EXPECT_EQ(v["i"], 0);
  EXPECT_EQ(v.dump(), R"({"a":3,"b":1.5,"c":1000,"d":0.5,"e":-2.5,"f":1,"g":0.0015,"h":2e+20,"i":0})");
}

TEST(YamlTyping, Booleans) {
  json v =
      One("t1: true\nt2: True\nt3: TRUE\nt4: yes\nt5: Yes\nt6: YES\nt7: on\nt8: On\nt9: ON\nt10: y\nt11: Y\n"
          "f1: false\nf2: False\nf3: FALSE\nf4: no\nf5: No\nf6: NO\nf7: off\nf8: Off\nf9: OFF\nf10: n\nf11: N\n");
  ASSERT_EQ(v.size(), 22u);
  for (const auto& [k, x] : v.items()) {
    ASSERT_TRUE(x.is_boolean()) << k << " = " << x.dump();
    EXPECT_EQ(x.get<bool>(), k[0] == 't') << k;
  }
}

TEST(YamlTyping, NotBooleans) {
  json v = One("a: tRuE\nb: yEs\nc: 'on'\nd: \"off\"\ne: enabled\nf: truthy\n");
  for (const auto& [k, x] : v.items()) EXPECT_TRUE(x.is_string()) << k << " = " << x.dump();
}

TEST(YamlTyping, Nulls) {
  json v = One("a: ~\nb: null\nc: Null\nd: NULL\ne:\nf: []\ng: {}\nh: [~, null, ]\n");
  EXPECT_TRUE(v["a"].is_null());
  EXPECT_TRUE(v["b"].is_null());
  EXPECT_TRUE(v["c"].is_null());
  EXPECT_TRUE(v["d"].is_null());
  EXPECT_TRUE(v["e"].is_null());
  EXPECT_TRUE(v.contains("e"));  // present, with a null value
  EXPECT_EQ(v["f"], json::array());
  EXPECT_EQ(v["g"], json::object());
  EXPECT_EQ(v["h"], json::array({nullptr, nullptr}));
  EXPECT_EQ(One("a: nULL\n")["a"], "nULL");
}

TEST(YamlTyping, LookalikesStayStrings) {
  json v =
      One("version: 1.2.3\ntime: 1:20\nhexish: 0x\nhexbad: 0xZZ\napi: v1\nexp: 1e\nimage: nginx:1.25\n"
          "cpu: 500m\nmem: 128Mi\ndate: 2001-12-14\nip: 10.0.0.1\ndot: .\ndash: -x\nsemver: 1.0.0-rc1\n"
          "sha: 0123abc\nunderscore_edge: _1\n");
  for (const auto& [k, x] : v.items()) EXPECT_TRUE(x.is_string()) << k << " = " << x.dump();
  EXPECT_EQ(v["time"], "1:20");  // no YAML 1.1 sexagesimal in go-yaml
  EXPECT_EQ(v["date"], "2001-12-14");
  EXPECT_EQ(v["sha"], "0123abc");
}

TEST(YamlTyping, ExplicitTags) {
  json v =
      One("a: !!str 123\nb: !!str true\nc: !!int \"7\"\nd: !!float 3\ne: !!float \"1.5\"\nf: !!bool yes\n"
          "g: !!null ~\nh: !!str\ni: !Custom local-tag\nj: !!binary aGVsbG8=\n");
  EXPECT_EQ(v["a"], "123");
  EXPECT_EQ(v["b"], "true");
  EXPECT_EQ(v["c"], 7);
  EXPECT_EQ(v["d"], 3);
  EXPECT_DOUBLE_EQ(v["e"].get<double>(), 1.5);
  EXPECT_EQ(v["f"], true);
  EXPECT_TRUE(v["g"].is_null());
  EXPECT_EQ(v["h"], "");
  EXPECT_EQ(v["i"], "local-tag");
  EXPECT_EQ(v["j"], "aGVsbG8=");
}

TEST(YamlTyping, TagThatDoesNotFitIsRefusedWithPosition) {
  EXPECT_EQ(Err("metadata:\n  x: !!int abc\n"), std::string(kFile) + ":2:6: value \"abc\" cannot be read as !!int");
  EXPECT_EQ(Err("a: !!bool maybe\n"), std::string(kFile) + ":1:4: value \"maybe\" cannot be read as !!bool");
}

TEST(YamlTyping, BlockScalarsAreStrings) {
  json v = One("lit: |\n  line 1\n  123\nfold: >\n  a\n  b\nstrip: |-\n  true\nkeep: |+\n  x\n\n");
  EXPECT_EQ(v["lit"], "line 1\n123\n");
  EXPECT_EQ(v["fold"], "a b\n");
  EXPECT_EQ(v["strip"], "true");
  EXPECT_EQ(v["keep"], "x\n\n");
}

TEST(YamlTyping, ResolvePlainScalarDirectly) {
  EXPECT_EQ(ResolvePlainScalar("3"), json(3));
  EXPECT_EQ(ResolvePlainScalar("3.0"), json(3));
  EXPECT_EQ(ResolvePlainScalar("yes"), json(true));
  EXPECT_EQ(ResolvePlainScalar("~"), json(nullptr));
  EXPECT_EQ(ResolvePlainScalar(""), json(nullptr));
  EXPECT_EQ(ResolvePlainScalar("0o17"), json(15));
  EXPECT_EQ(ResolvePlainScalar("web"), json("web"));
  for (const char* s : {"+", "-", ".", "_", "__", "0x", "0o", "0b", "+.", "-_", "e5", ".e5", "1e+"}) {
    EXPECT_TRUE(ResolvePlainScalar(s).is_string()) << s;
  }
}

// ---------------------------------------------------------------------------
// Source positions

constexpr const char* kDeployment =
    "apiVersion: apps/v1\n"                             // 1
    "kind: Deployment\n"                                // 2
    "metadata:\n"                                       // 3
    "  name: web\n"                                     // 4
    "  labels:\n"                                       // 5
    "    app.kubernetes.io/name: web\n"                 // 6
    "    tier: frontend\n"                              // 7
    "spec:\n"                                           // 8
    "  replicas: 3\n"                                   // 9
    "  selector:\n"                                     // 10
    "    matchLabels: {app.kubernetes.io/name: web}\n"  // 11
    "  template:\n"                                     // 12
    "    metadata:\n"                                   // 13
    "      labels:\n"                                   // 14
    "        app.kubernetes.io/name: web\n"             // 15
    "    spec:\n"                                       // 16
    "      containers:\n"                               // 17
    "        - name: app\n"                             // 18
    "          image:   nginx:1.25   # pinned\n"        // 19
    "          ports:\n"                                // 20
    "          - containerPort: 80\n"                   // 21
    "            name: http\n"                          // 22
    "          env: [{name: MODE, value: \"prod\"}]\n"  // 23
    "        - name: sidecar\n"                         // 24
    "          image: \"busybox:1.36\"\n";              // 25

TEST(YamlPositions, ValuesHaveOneBasedLineAndColumn) {
  std::vector<Document> docs = Load(kDeployment);
  ASSERT_EQ(docs.size(), 1u);
  const Document& d = docs[0];
  EXPECT_POS(d, "apiVersion", 1, 13);
  EXPECT_POS(d, "kind", 2, 7);
  EXPECT_POS(d, "metadata.name", 4, 9);
  EXPECT_POS(d, "spec.replicas", 9, 13);
  EXPECT_POS(d, "spec.template.spec.containers[0].image", 19, 20);
  EXPECT_POS(d, "spec.template.spec.containers[0].name", 18, 17);
  EXPECT_POS(d, "spec.template.spec.containers[0].ports[0].containerPort", 21, 28);
  EXPECT_POS(d, "spec.template.spec.containers[0].ports[0].name", 22, 19);
  EXPECT_POS(d, "spec.template.spec.containers[0].env[0].value", 23, 37);
  EXPECT_POS(d, "spec.template.spec.containers[1].image", 25, 18);
  // A container is a block map: its position is its first key.
  EXPECT_POS(d, "spec.template.spec.containers[1]", 24, 11);
  EXPECT_POS(d, "spec.template.spec.containers[0].env[0]", 23, 17);
  EXPECT_POS(d, "spec.template.spec.containers[0].env", 23, 16);
}

TEST(YamlPositions, KeysThatAreNotIdentifiersUseBrackets) {
  std::vector<Document> docs = Load(kDeployment);
  ASSERT_EQ(docs.size(), 1u);
  const Document& d = docs[0];
  EXPECT_POS(d, "metadata.labels[app.kubernetes.io/name]", 6, 29);
  EXPECT_POS(d, "metadata.labels.tier", 7, 11);
  EXPECT_POS(d, "spec.selector.matchLabels[app.kubernetes.io/name]", 11, 43);
  EXPECT_POS(d, "spec.template.metadata.labels[app.kubernetes.io/name]", 15, 33);
  EXPECT_EQ(FieldPath().Child("metadata").Child("labels").Child("app.kubernetes.io/name").str(),
            "metadata.labels[app.kubernetes.io/name]");
}

TEST(YamlPositions, MissingFieldGivesNearestAncestor) {
  std::vector<Document> docs = Load(kDeployment);
  ASSERT_EQ(docs.size(), 1u);
  const Document& d = docs[0];
  // containers[0] starts at its first key `name`.
  SourcePos container = Pos(d, "spec.template.spec.containers[0]");
  EXPECT_EQ(container.line, 18);
  EXPECT_EQ(container.column, 11);
  SourcePos missing = Pos(d, "spec.template.spec.containers[0].resources.limits.cpu");
  EXPECT_EQ(missing.line, container.line);
  EXPECT_EQ(missing.column, container.column);
  // A missing list element falls back to the list.
  SourcePos list = Pos(d, "spec.template.spec.containers");
  SourcePos third = Pos(d, "spec.template.spec.containers[7].image");
  EXPECT_EQ(third.line, list.line);
  EXPECT_EQ(third.column, list.column);
  // A missing label under a bracketed parent.
  EXPECT_EQ(Pos(d, "metadata.labels[example.com/missing]").line, Pos(d, "metadata.labels").line);
  // Missing top-level field: the document root.
  SourcePos root = Pos(d, "status.phase");
  EXPECT_EQ(root.line, 1);
  EXPECT_EQ(root.column, 1);
  EXPECT_TRUE(root.known());
}

TEST(YamlPositions, EveryValueIsRecorded) {
  std::vector<Document> docs = Load("a: {b: [1, 2, {c: d}]}\n");
  ASSERT_EQ(docs.size(), 1u);
  const Document& d = docs[0];
  EXPECT_POS(d, "", 1, 1);
  EXPECT_POS(d, "a", 1, 4);
  EXPECT_POS(d, "a.b", 1, 8);
  EXPECT_POS(d, "a.b[0]", 1, 9);
  EXPECT_POS(d, "a.b[1]", 1, 12);
  EXPECT_POS(d, "a.b[2]", 1, 15);
  EXPECT_POS(d, "a.b[2].c", 1, 19);
  EXPECT_GE(d.positions->size(), 7u);
}

TEST(YamlPositions, MultiLineValuesPointAtTheirStart) {
  std::vector<Document> docs = Load("data:\n  script: |\n    echo hi\n    exit 0\n  next: 1\n");
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_POS(docs[0], "data.script", 2, 11);
  EXPECT_POS(docs[0], "data.next", 5, 9);
}

// ---------------------------------------------------------------------------
// JSON files go through the same loader

TEST(YamlJson, JsonManifestLoads) {
  const char* text =
      "{\n"
      "  \"apiVersion\": \"v1\",\n"
      "  \"kind\": \"ConfigMap\",\n"
      "  \"metadata\": {\"name\": \"cfg\", \"labels\": {\"app.kubernetes.io/name\": \"web\"}},\n"
      "  \"data\": {\"replicas\": \"3\", \"flag\": \"true\"},\n"
      "  \"n\": [3, 3.0, 1.5, true, false, null, \"1\", -7, 1e3, \"\\u00e9\\n\"]\n"
      "}\n";
  std::vector<Document> docs = Load(text);
  ASSERT_EQ(docs.size(), 1u);
  json expected = json::parse(text);
  expected["n"][1] = 3;  // integral float, as Kubernetes sees it
  expected["n"][8] = 1000;
  EXPECT_EQ(docs[0].value, expected);
  EXPECT_EQ(docs[0].value["n"][9], "\xC3\xA9\n");
  EXPECT_POS(docs[0], "kind", 3, 11);
  EXPECT_POS(docs[0], "metadata.labels[app.kubernetes.io/name]", 4, 68);
  EXPECT_POS(docs[0], "n[2]", 6, 17);
}

TEST(YamlJson, TabIndentedAndCompactJson) {
  EXPECT_EQ(One("{\n\t\"a\": 1,\n\t\"b\": {\"c\": [1, 2.5, \"x\", true, null]}\n}\n"),
            json::parse(R"({"a":1,"b":{"c":[1,2.5,"x",true,null]}})"));
  EXPECT_EQ(One(R"({"kind":"List","items":[{"a":{}},{"b":[]}]})"),
            json::parse(R"({"kind":"List","items":[{"a":{}},{"b":[]}]})"));
}

TEST(YamlJson, JsonDuplicateKeysAreRefused) {
  EXPECT_EQ(Err("{\"a\": 1, \"a\": 2}"),
            std::string(kFile) + ":1:10: a: duplicate key \"a\" (first defined at line 1, column 2)");
}

// ---------------------------------------------------------------------------
// Round trip: a realistic Deployment to the JSON Kubernetes would see

TEST(YamlRoundTrip, DeploymentToJson) {
  const char* text = R"(# Deployment of the web tier.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    app.kubernetes.io/name: web
    app.kubernetes.io/version: "1.25"
  annotations:
    bosun.dev/owner: team-a
    description: >
      The public
      web tier.
spec:
  replicas: 3
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app.kubernetes.io/name: web
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: web
    spec:
      terminationGracePeriodSeconds: 30
      containers:
        - name: web
          image: nginx:1.25.3
          args: ["--port", "8080", --verbose]
          ports:
            - {name: http, containerPort: 8080, protocol: TCP}
          env:
            - name: DEBUG
              value: "false"
            - name: WORKERS
              value: "4"
            - name: GREETING
              value: 'it''s "fine"'
          resources:
            requests: {cpu: 100m, memory: 64Mi}
            limits:
              cpu: 1
              memory: 128Mi
          readinessProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 5
            failureThreshold: 3
          livenessProbe:
            exec:
              command:
                - sh
                - -c
                - |
                  test -f /tmp/ok
          securityContext:
            runAsNonRoot: yes
            readOnlyRootFilesystem: true
          x-unknown-field: {kept: [1, 2.5, ~]}
      futureField: 7
)";
  const char* expected = R"({
  "apiVersion": "apps/v1",
  "kind": "Deployment",
  "metadata": {
    "name": "web",
    "namespace": "shop",
    "labels": {"app.kubernetes.io/name": "web", "app.kubernetes.io/version": "1.25"},
    "annotations": {"bosun.dev/owner": "team-a", "description": "The public web tier.\n"}
  },
  "spec": {
    "replicas": 3,
    "revisionHistoryLimit": 5,
    "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
    "template": {
      "metadata": {"labels": {"app.kubernetes.io/name": "web"}},
      "spec": {
        "terminationGracePeriodSeconds": 30,
        "containers": [{
          "name": "web",
          "image": "nginx:1.25.3",
          "args": ["--port", "8080", "--verbose"],
          "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
          "env": [
            {"name": "DEBUG", "value": "false"},
            {"name": "WORKERS", "value": "4"},
            {"name": "GREETING", "value": "it's \"fine\""}
          ],
          "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": 1, "memory": "128Mi"}},
          "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5, "failureThreshold": 3},
          "livenessProbe": {"exec": {"command": ["sh", "-c", "test -f /tmp/ok\n"]}},
          "securityContext": {"runAsNonRoot": true, "readOnlyRootFilesystem": true},
          "x-unknown-field": {"kept": [1, 2.5, null]}
        }],
        "futureField": 7
      }
    }
  }
})";
  std::vector<Document> docs = Load(text);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].value, json::parse(expected)) << docs[0].value.dump(2);
  // The JSON text itself is stable: reloading the dump gives the same value.
  EXPECT_EQ(One(docs[0].value.dump()), docs[0].value);
  EXPECT_EQ(One(docs[0].value.dump(2)), docs[0].value);
}

// ---------------------------------------------------------------------------
// Merge keys

TEST(YamlMerge, ExplicitKeysWinWhateverTheirOrder) {
  json v =
      One("base: &base\n  a: 1\n  b: 2\n"
          "before:\n  <<: *base\n  b: 3\n"
          "after:\n  b: 3\n  <<: *base\n");
  EXPECT_EQ(v["base"], json({{"a", 1}, {"b", 2}}));
  EXPECT_EQ(v["before"], json({{"a", 1}, {"b", 3}}));
  EXPECT_EQ(v["after"], json({{"a", 1}, {"b", 3}}));
  EXPECT_FALSE(v["before"].contains("<<"));
}

TEST(YamlMerge, ListOfMapsEarlierWins) {
  json v = One("one: &one {a: 1, b: 1}\ntwo: &two {b: 2, c: 2}\nm:\n  <<: [*one, *two, {d: 4, a: 9}]\n  c: 3\n");
  EXPECT_EQ(v["m"], json({{"a", 1}, {"b", 1}, {"c", 3}, {"d", 4}}));
}

TEST(YamlMerge, ContainerDefaults) {
  const char* text =
      "defaults: &defaults\n"
      "  imagePullPolicy: IfNotPresent\n"
      "  resources: {limits: {cpu: 500m}}\n"
      "containers:\n"
      "  - <<: *defaults\n"
      "    name: a\n"
      "    image: a:1\n"
      "  - <<: *defaults\n"
      "    name: b\n"
      "    image: b:1\n"
      "    resources: {limits: {cpu: 1}}\n";
  json v = One(text);
  EXPECT_EQ(
      v["containers"][0],
      json::parse(
          R"({"imagePullPolicy":"IfNotPresent","resources":{"limits":{"cpu":"500m"}},"name":"a","image":"a:1"})"));
  // The explicit map replaces the merged one as a whole (no deep merge).
  EXPECT_EQ(v["containers"][1]["resources"], json::parse(R"({"limits":{"cpu":1}})"));
  EXPECT_EQ(v["containers"][1]["imagePullPolicy"], "IfNotPresent");
}

TEST(YamlMerge, QuotedMergeKeyIsAnOrdinaryKey) {
  EXPECT_EQ(One("m: {\"<<\": 1}\n"), json::parse(R"({"m":{"<<":1}})"));
}

TEST(YamlMerge, MergingSomethingElseIsRefused) {
  EXPECT_EQ(Err("m:\n  <<: 1\n"), std::string(kFile) + ":2:7: merge key << takes a map or a list of maps");
  EXPECT_THAT(Err("m:\n  <<: [{a: 1}, 2]\n"), StartsWith(std::string(kFile) + ":2:"));
}

TEST(YamlMerge, DuplicateExplicitKeyNextToMergeIsStillRefused) {
  EXPECT_EQ(Err("x: &x {a: 1}\nm:\n  <<: *x\n  a: 2\n  a: 3\n"),
            std::string(kFile) + ":5:3: m.a: duplicate key \"a\" (first defined at line 4, column 3)");
}

TEST(YamlAliases, PlainAliasesCopyTheValue) {
  json v = One("defs: {img: &img nginx:1.25, ports: &ports [80, 443]}\nimage: *img\nports: *ports\n");
  EXPECT_EQ(v["image"], "nginx:1.25");
  EXPECT_EQ(v["ports"], json({80, 443}));
}

// ---------------------------------------------------------------------------
// Hostile and broken input

TEST(YamlHostile, FileOverMaxFileBytes) {
  LoadLimits limits;
  limits.max_file_bytes = 1000;
  std::string text = "a: 1\n" + std::string(996, '#');  // 1001 bytes
  auto r = LoadYaml(text, kFile, limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kTooLarge);
  EXPECT_EQ(r.error().message(), std::string(kFile) + ": file is larger than 1000 bytes");
  // Exactly at the limit is fine.
  EXPECT_TRUE(LoadYaml(text.substr(0, 1000), kFile, limits).ok());
}

TEST(YamlHostile, FileOverMaxFileBytesOnDisk) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("bosun_yaml_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string path = (dir / "big.yaml").string();
  {
    std::ofstream f(path, std::ios::binary);
    f << "a: " << std::string(2000, 'x') << "\n";
  }
  LoadLimits limits;
  limits.max_file_bytes = 1024;
  auto r = LoadYamlFile(path, limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kTooLarge);
  EXPECT_EQ(r.error().message(), path + ": file is larger than 1024 bytes");
  // Within limits it loads, and messages name the path.
  limits.max_file_bytes = 1u << 20;
  auto ok = LoadYamlFile(path, limits);
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  ASSERT_EQ(ok->size(), 1u);
  EXPECT_EQ((*ok)[0].file, path);
  auto missing = LoadYamlFile((dir / "missing.yaml").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Code::kIo);
  EXPECT_THAT(missing.error().message(), StartsWith((dir / "missing.yaml").string() + ": "));
  fs::remove_all(dir);
}

TEST(YamlHostile, DocumentOverMaxDocumentBytes) {
  LoadLimits limits;
  limits.max_document_bytes = 64;
  // A long scalar.
  EXPECT_EQ(Err("a: " + std::string(100, 'x') + "\n", limits),
            std::string(kFile) + ":1:4: document is larger than 64 bytes");
  // The second document is the big one; the position is in it.
  EXPECT_EQ(Err("a: 1\n---\nb: " + std::string(100, 'x') + "\n", limits),
            std::string(kFile) + ":3:4: document is larger than 64 bytes");
  // Many small values.
  EXPECT_THAT(Err("---\nk: v\nl: [" + Repeat("1, ", 40) + "1]\n", limits), StartsWith(std::string(kFile) + ":3:"));
  EXPECT_THAT(Err("---\nk: v\nl: [" + Repeat("1, ", 40) + "1]\n", limits),
              HasSubstr(": document is larger than 64 bytes"));
  // The limit is per document: many small documents make a file of any size.
  std::string many;
  for (int i = 0; i < 50; ++i) many += "---\na: " + std::to_string(i) + "\nb: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n";
  EXPECT_EQ(Load(many, limits).size(), 50u);
}

TEST(YamlHostile, DocumentOverMaxNodes) {
  LoadLimits limits;
  limits.max_nodes = 10;
  // The list itself is a value: 1 + 10 elements.
  EXPECT_EQ(Err("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]", limits),
            std::string(kFile) + ":1:29: document has more than 10 values");
  EXPECT_EQ(One("[1, 2, 3, 4, 5, 6, 7, 8, 9]", limits).size(), 9u);
}

std::string NestedBlockMaps(int levels) {
  std::string s;
  for (int i = 0; i < levels; ++i) s += std::string(2 * i, ' ') + "k:\n";
  s += std::string(2 * levels, ' ') + "leaf: 1\n";
  return s;
}

TEST(YamlHostile, BlockNestingOverMaxDepth) {
  LoadLimits limits;
  limits.max_depth = 10;
  // The root map and 9 nested maps: 10 levels, fine.
  EXPECT_TRUE(LoadYaml(NestedBlockMaps(9), kFile, limits).ok());
  // An 11th level is refused where it starts.
  EXPECT_EQ(Err(NestedBlockMaps(10), limits), std::string(kFile) + ":11:21: nesting is deeper than 10 levels");
  // Block sequences too.
  EXPECT_EQ(Err(Repeat("- ", 11) + "x\n", limits), std::string(kFile) + ":1:21: nesting is deeper than 10 levels");
}

TEST(YamlHostile, FlowNestingOverMaxDepth) {
  LoadLimits limits;
  limits.max_depth = 10;
  EXPECT_TRUE(LoadYaml(Repeat("[", 10) + Repeat("]", 10), kFile, limits).ok());
  EXPECT_EQ(Err(Repeat("[", 11) + Repeat("]", 11), limits),
            std::string(kFile) + ":1:11: nesting is deeper than 10 levels");
  EXPECT_EQ(Err("a: " + Repeat("{b: ", 20) + "1" + Repeat("}", 20), limits),
            std::string(kFile) + ":1:40: nesting is deeper than 10 levels");
}

TEST(YamlHostile, HundredThousandLevelsDoNotCrash) {
  const size_t n = 100000;
  // Default limits (max_depth 100): refused, never a stack overflow.
  EXPECT_EQ(Err("a: " + Repeat("[", n) + Repeat("]", n)),
            std::string(kFile) + ":1:103: nesting is deeper than 100 levels");
  EXPECT_THAT(Err(Repeat("[", n)), StartsWith(std::string(kFile) + ":1:"));  // unclosed as well
  EXPECT_THAT(Err(Repeat("{a: ", n) + "1" + Repeat("}", n)), HasSubstr("nesting is deeper than 100 levels"));
  EXPECT_THAT(Err(Repeat("- ", n) + "x\n"), HasSubstr("nesting is deeper than 100 levels"));
  EXPECT_THAT(Err(Repeat("[{a: ", n / 2)), StartsWith(std::string(kFile) + ":1:"));
  std::string block;
  for (int i = 0; i < 2000; ++i) block += std::string(static_cast<size_t>(i), ' ') + "k:\n";
  EXPECT_THAT(Err(block), HasSubstr("nesting is deeper than 100 levels"));
  // Even with a huge depth limit the loader (or yaml-cpp's own guard) refuses
  // cleanly rather than recursing 100000 deep.
  LoadLimits deep;
  deep.max_depth = 1 << 30;
  auto r = LoadYaml(Repeat("[", n) + Repeat("]", n), kFile, deep);
  EXPECT_FALSE(r.ok());
  if (!r.ok()) {
    EXPECT_THAT(r.error().message(), StartsWith(std::string(kFile) + ":1:"));
  }
}

constexpr const char* kBillionLaughs =
    "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";

TEST(YamlHostile, BillionLaughsIsRefusedQuickly) {
  auto t0 = std::chrono::steady_clock::now();
  std::string msg = Err(kBillionLaughs);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  // With the default budget of 100000 alias values, the 6th line crosses it.
  EXPECT_EQ(msg, std::string(kFile) +
                     ":6:8: alias expansion exceeds 100000 values (nested aliases that multiply, as in a "
                     "\"billion laughs\" document, are refused)");
  // Not a benchmark: a bound so loose only an exponential expansion breaks it.
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST(YamlHostile, AliasBudgetWithSmallLimits) {
  LoadLimits limits;
  limits.max_alias_nodes = 20;
  // A few small aliases are fine: 2 x 3 values.
  EXPECT_TRUE(LoadYaml("a: &a [1, 2]\nb: [*a, *a]\n", kFile, limits).ok());
  // One big alias (11 values) used twice: 22 > 20, refused at the second use.
  EXPECT_EQ(Err("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nb: [*a, *a, *a]\n", limits),
            std::string(kFile) +
                ":2:9: alias expansion exceeds 20 values (nested aliases that multiply, as in a \"billion laughs\" "
                "document, are refused)");
  // Merge keys expand aliases too.
  EXPECT_THAT(Err("a: &a {a1: 1, a2: 2, a3: 3, a4: 4, a5: 5, a6: 6, a7: 7, a8: 8, a9: 9}\n"
                  "m1: {<<: *a}\nm2: {<<: *a}\nm3: {<<: *a}\n",
                  limits),
              HasSubstr("alias expansion exceeds 20 values"));
  // The budget is per document.
  EXPECT_EQ(
      Load("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nb: *a\n---\na: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nb: *a\n", limits)
          .size(),
      2u);
}

TEST(YamlHostile, NonStringKeysAreRefused) {
  const std::string f = kFile;
  EXPECT_EQ(Err("1: a\n"), f + ":1:1: mapping key 1 must be a string, found number (quote it: \"1\")");
  EXPECT_EQ(Err("metadata:\n  true: a\n"),
            f + ":2:3: mapping key true must be a string, found boolean (quote it: \"true\")");
  EXPECT_EQ(Err("on: push\n"), f + ":1:1: mapping key on must be a string, found boolean (quote it: \"on\")");
  EXPECT_EQ(Err("1.5: x\n"), f + ":1:1: mapping key 1.5 must be a string, found number (quote it: \"1.5\")");
  EXPECT_EQ(Err("null: a\n"), f + ":1:1: mapping key null must be a string, found null (quote it: \"null\")");
  EXPECT_EQ(Err("a: 1\n~: a\n"), f + ":2:1: mapping key ~ must be a string, found null (quote it: \"~\")");
  EXPECT_EQ(Err("metadata:\n  NULL: x\n"),
            f + ":2:3: mapping key NULL must be a string, found null (quote it: \"NULL\")");
  EXPECT_THAT(Err(": a\n"), StartsWith(f + ":1:1: "));  // an empty key
  EXPECT_EQ(Err("? [a]\n: b\n"), f + ":1:3: mapping key must be a string, found a list");
  EXPECT_EQ(Err("? {a: 1}\n: b\n"), f + ":1:3: mapping key must be a string, found a map");
  EXPECT_EQ(Err("{[a]: b}"), f + ":1:2: mapping key must be a string, found a list");
  EXPECT_EQ(Err("a: &k name\n*k : b\n"), f + ":2:1: mapping key must be a string, found an alias");
  EXPECT_EQ(Err("!!int 1: x\n"), f + ":1:1: mapping key must be a string, found a value tagged tag:yaml.org,2002:int");
  EXPECT_EQ(Err("{1: a}"), f + ":1:2: mapping key 1 must be a string, found number (quote it: \"1\")");
  // Quoted or tagged as strings they are fine.
  EXPECT_EQ(One("\"1\": a\n'true': b\n\"null\": c\n!!str 2: d\n? \"x\"\n: e\n"),
            json({{"1", "a"}, {"true", "b"}, {"null", "c"}, {"2", "d"}, {"x", "e"}}));
  EXPECT_EQ(One("? |\n  multi\n: 1\n"), json({{"multi\n", 1}}));
}

TEST(YamlHostile, EveryDuplicateKeyIsReportedWithItsFieldPath) {
  const std::string f = kFile;
  EXPECT_EQ(Err("kind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    app: web\n    app: api\n"
                "data:\n  k: 1\n  k: 2\nkind: Secret\n"),
            f + ":6:5: metadata.labels.app: duplicate key \"app\" (first defined at line 5, column 5)\n" + f +
                ":9:3: data.k: duplicate key \"k\" (first defined at line 8, column 3)\n" + f +
                ":10:1: kind: duplicate key \"kind\" (first defined at line 1, column 1)");
  // In later documents too, and before a syntax error that stops the parse.
  EXPECT_THAT(Err("a: 1\n---\nb: 1\nb: 2\n---\nc: [\n"),
              StartsWith(f + ":4:1: b: duplicate key \"b\" (first defined at line 3, column 1)\n" + f + ":"));
}

TEST(YamlHostile, DuplicateKeysNameTheFirstOccurrence) {
  const std::string f = kFile;
  EXPECT_EQ(Err("a: 1\nb: 2\na: 3\n"), f + ":3:1: a: duplicate key \"a\" (first defined at line 1, column 1)");
  EXPECT_EQ(Err("metadata:\n  name: a\n  labels: {}\n  name: b\n"),
            f + ":4:3: metadata.name: duplicate key \"name\" (first defined at line 2, column 3)");
  // Quoting does not make it a different key.
  EXPECT_EQ(Err("a: 1\n\"a\": 2\n"), f + ":2:1: a: duplicate key \"a\" (first defined at line 1, column 1)");
  EXPECT_EQ(Err("a: 1\n!!str a: 2\n"), f + ":2:1: a: duplicate key \"a\" (first defined at line 1, column 1)");
  EXPECT_EQ(Err("m: {x: 1, y1: 2, x: 3}\n"), f + ":1:18: m.x: duplicate key \"x\" (first defined at line 1, column 5)");
  // The same key in different maps, or in different documents, is fine.
  EXPECT_EQ(One("a: {k: 1}\nb: {k: 2}\nc: [{k: 1}, {k: 2}]\n")["c"][1]["k"], 2);
  EXPECT_EQ(Load("a: 1\n---\na: 2\n").size(), 2u);
}

TEST(YamlHostile, UnknownAlias) {
  EXPECT_EQ(Err("a: *nope\n"), std::string(kFile) + ":1:4: alias *nope refers to an unknown anchor");
  EXPECT_EQ(Err("a:\n  - 1\n  - *later\nb: &later 2\n"),
            std::string(kFile) + ":3:5: alias *later refers to an unknown anchor");
  // An alias to an anchor that is still open (a cycle) is refused too.
  EXPECT_EQ(Err("a: &a [1, *a]\n"), std::string(kFile) + ":1:11: alias *a refers to an unknown anchor");
}

TEST(YamlHostile, SyntaxErrorsGivePositions) {
  const std::string f = std::string(kFile) + ":";
  // libyaml's messages (the parser go-yaml was ported from), with where the
  // open construct began when that helps.
  EXPECT_EQ(Err("a: b: c\n"), f + "1:5: invalid YAML: mapping values are not allowed in this context");
  EXPECT_EQ(Err("a: 1\n b: 2\n"), f + "2:3: invalid YAML: mapping values are not allowed in this context");
  EXPECT_EQ(Err("a:\n\t- b\n"), f + "2:1: invalid YAML: a tab cannot be used for indentation in YAML; use spaces");
  EXPECT_EQ(Err("a:\n  - 1\n  b: 2\n"),
            f + "3:3: invalid YAML: did not find expected '-' indicator (while parsing a block collection that began "
                "at line 2, column 3)");
  EXPECT_EQ(Err("a: [1, 2\nb: 3\n"),
            f + "2:2: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence that began at line "
                "1, column 4)");
  EXPECT_EQ(Err("a: {b: 1\n"),
            f + "2:1: invalid YAML: did not find expected ',' or '}' (while parsing a flow mapping that began at line "
                "1, column 4)");
  EXPECT_EQ(Err("a: @x\n"), f + "1:4: invalid YAML: found character that cannot start any token");
  EXPECT_EQ(Err("a: \"x\n---\nb: 1\n"),
            f + "2:1: invalid YAML: found unexpected document indicator (while scanning a quoted scalar that began at "
                "line 1, column 4)");
  EXPECT_EQ(Err("a: \"bad \\q escape\"\n"),
            f + "1:9: invalid YAML: found unknown escape character (while parsing a quoted scalar that began at line "
                "1, column 4)");
  // Every syntax error names a position.
  for (const char* bad :
       {"[1, 2]]", "a: 1\n- b\n", "- a\nb: 1\n", "{a: 1}}", "key: 'x' y\n", ",", "[],", "]", "a: |\n x\n  y\nb"}) {
    auto r = LoadYaml(bad, kFile);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_THAT(r.error().message(), ::testing::MatchesRegex(std::string(kFile) + ":[1-9][0-9]*:[1-9][0-9]*: .*"))
        << bad;
  }
}

// Mistakes yaml-cpp 0.7 accepted or mis-reported (the loader used it before
// libyaml); Kubernetes refuses each of these.
TEST(YamlHostile, UnterminatedQuoteIsASyntaxError) {
  // Not "web spec: replicas: 3" as the name.
  EXPECT_EQ(Err("metadata:\n  name: \"web\nspec:\n  replicas: 3\n"),
            std::string(kFile) +
                ":5:1: invalid YAML: found unexpected end of stream (while scanning a quoted scalar that began at line "
                "2, column 9)");
  EXPECT_THAT(Err("a: 'unclosed\n"), HasSubstr("while scanning a quoted scalar that began at line 1, column 4"));
}

TEST(YamlHostile, KeyWithoutColonIsASyntaxError) {
  EXPECT_EQ(Err("spec:\n  replicas: 3\n  paused\n"),
            std::string(kFile) +
                ":4:1: invalid YAML: could not find expected ':' (while scanning a simple key that began at line 3, "
                "column 3)");
}

TEST(YamlHostile, UnclosedFlowAtEndOfFile) {
  EXPECT_EQ(
      Err("a: [1, 2\n"),
      std::string(kFile) +
          ":2:1: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence that began at line "
          "1, column 4)");
  EXPECT_THAT(Err("- [1, 2\n"),
              StartsWith(std::string(kFile) + ":2:1: invalid YAML: did not find expected ',' or ']'"));
}

TEST(YamlHostile, MapAfterTopLevelListIsNotASecondDocument) {
  EXPECT_EQ(Err("- name: a\nkind: ConfigMap\n"),
            std::string(kFile) +
                ":2:1: invalid YAML: did not find expected '-' indicator (while parsing a block collection that began "
                "at line 1, column 1)");
}

TEST(YamlHostile, StrayCommaDoesNotHang) {
  // yaml-cpp 0.7 looped forever on these (jbeder/yaml-cpp#1040).
  EXPECT_THAT(Err(","), StartsWith(std::string(kFile) + ":1:1: invalid YAML: "));
  EXPECT_THAT(Err("[],"), StartsWith(std::string(kFile) + ":1:3: invalid YAML: "));
  EXPECT_THAT(Err("{a: b},x"), StartsWith(std::string(kFile) + ":1:"));
}

TEST(YamlHostile, InvalidUtf8IsRefused) {
  // Strings must be UTF-8: everything downstream serialises them as JSON.
  EXPECT_THAT(Err("a: \xff\xfe\n"), HasSubstr("invalid YAML: invalid leading UTF-8 octet"));
  EXPECT_THAT(Err("a: \"\xc3\"\n"), HasSubstr("invalid YAML: invalid trailing UTF-8 octet"));
  EXPECT_THAT(Err("\xc3\x28: 1\n"), HasSubstr("invalid YAML: invalid trailing UTF-8 octet"));
  EXPECT_THAT(Err("a: \x01\n"), HasSubstr("invalid YAML: control characters are not allowed"));
  // Escapes of invalid code points too.
  EXPECT_THAT(Err("a: \"\\ud800\"\n"), HasSubstr("invalid YAML: found invalid Unicode character escape code"));
}

TEST(YamlHostile, AliasesCannotExceedMaxDepth) {
  LoadLimits limits;
  limits.max_depth = 5;
  // Pasting a 3-deep anchor at depth 4 would make 7 levels.
  EXPECT_EQ(Err("a: &a [[[1]]]\nb: [[[*a]]]\n", limits), std::string(kFile) + ":2:7: nesting is deeper than 5 levels");
  EXPECT_TRUE(LoadYaml("a: &a [[[1]]]\nb: [*a]\n", kFile, limits).ok());
}

TEST(YamlHostile, DocumentSizeCountsEveryByte) {
  LoadLimits limits;
  limits.max_document_bytes = 64;
  // Bytes after the last value (a comment) count too.
  EXPECT_THAT(Err("a: 1\n# " + std::string(100, 'c') + "\n---\nb: 2\n", limits),
              HasSubstr("document is larger than 64 bytes"));
}

TEST(YamlHostile, ThreadSafeOnIndependentInputs) {
  // LoadYaml has no shared state: loading the same text many times gives the same answer.
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(Err(kBillionLaughs), StartsWith(std::string(kFile) + ":6:8: alias expansion exceeds"));
    EXPECT_EQ(Load(kDeployment).size(), 1u);
  }
}

// ---------------------------------------------------------------------------
// Hardening: inputs that once broke the loader (found by review and fuzzing),
// each pinned by the behaviour a user relies on.

// Alias expansion is budgeted in values, not bytes: one anchored long string
// pasted many times multiplies memory. With the default limits a 1.4 MB file
// (a 1 MiB string and 100000 `*a`) asks for ~100 GiB. Here: 64 KiB x 2000 =
// 128 MiB of JSON from a 72 KB file.
TEST(YamlHardening, AliasExpansionIsBudgetedInBytes) {
  std::string text = "a: &a \"" + std::string(64 << 10, 'x') + "\"\nb: [" + Repeat("*a, ", 1999) + "*a]\n";
  EXPECT_THAT(Err(text), HasSubstr("alias expansion exceeds"));
}

// An anchor copies its value when it is defined, so anchors on nested
// containers hold depth x size values with no alias at all: a 2 MB file of 99
// nested anchors around 999000 numbers takes ~9 s and 2 GB. (Here 300000
// numbers, 600 KB: ~3 s and 600 MB today; a loader that copies on use, or
// charges the copies to max_nodes, is far under the bound.)
TEST(YamlHardening, AnchorsOnNestedValuesDoNotMultiplyMemory) {
  std::string text;
  for (int i = 0; i < 99; ++i) text += "&a" + std::to_string(i) + " [";
  text += Repeat("1,", 299999) + "1" + Repeat("]", 99);
  auto t0 = std::chrono::steady_clock::now();
  auto r = LoadYaml(text, kFile);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  if (r.ok()) {  // or refused by a limit
    EXPECT_LT(elapsed, std::chrono::seconds(1));
  }
}

// A JSON file that escapes a character outside the BMP as a surrogate pair
// (Python's json.dumps does by default) is valid JSON, and kubectl reads it;
// the loader refuses it.
TEST(YamlHardening, JsonSurrogatePairEscapes) {
  EXPECT_EQ(
      One(R"({"metadata": {"annotations": {"note": "ship it \ud83d\ude80"}}})")["metadata"]["annotations"]["note"],
      "ship it \xF0\x9F\x9A\x80");
}

// Encoding errors (invalid UTF-8, control characters) are reported at 1:1
// whatever their place: libyaml gives their byte offset (problem_offset), not
// a mark.
TEST(YamlHardening, EncodingErrorsNameTheirPosition) {
  EXPECT_THAT(Err("a: 1\nb: 2\nc: x\xff\n"), StartsWith(std::string(kFile) + ":3:5: "));
  EXPECT_THAT(Err("a: 1\nb: \x01\n"), StartsWith(std::string(kFile) + ":2:4: "));
}

// A document whose root is a scalar records no position for it.
TEST(YamlHardening, ScalarRootHasAPosition) {
  std::vector<Document> docs = Load("# c\njust-a-string\n");
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(Pos(docs[0], "").line, 2);
}

}  // namespace
}  // namespace bosun
