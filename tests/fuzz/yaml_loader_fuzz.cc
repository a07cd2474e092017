// tests/fuzz/yaml_loader_fuzz.cc — libFuzzer target for the manifest loader.
//
// Feeds arbitrary bytes to LoadYaml with the default limits. Whatever the
// input, the loader must return (no crash, hang, leak or out-of-memory; ASan,
// UBSan and libFuzzer's -timeout/-rss_limit_mb watch for those) and:
//   - an error names the file ("fuzz.yaml...") and is kInvalid or kTooLarge;
//   - a success gives documents numbered 0..n-1, each non-null, with a start
//     position, within max_nodes and max_depth, that serialise with
//     value.dump(), and whose JSON text loads back to the same value.
// A broken invariant aborts with a message saying which, so libFuzzer saves the
// input as a crash artifact.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/yaml.h"

namespace {

using nlohmann::json;

[[noreturn]] void Broken(const char* what, const std::string& detail) {
  std::fprintf(stderr, "\n*** yaml loader invariant broken: %s\n%s\n", what, detail.substr(0, 2000).c_str());
  std::abort();
}

struct Shape {
  size_t nodes = 0;
  size_t depth = 0;
  bool finite = true;      // no infinity or NaN (JSON has neither)
  size_t longest_key = 0;  // as written in JSON, escapes included
};

// Without recursion: a broken depth limit must not become a stack overflow in
// the checker itself.
Shape Measure(const json& root) {
  Shape s;
  struct Item {
    const json* j;
    size_t d;
  };
  std::vector<Item> stack{{&root, 1}};
  while (!stack.empty()) {
    Item it = stack.back();
    stack.pop_back();
    ++s.nodes;
    if (it.j->is_structured()) s.depth = std::max(s.depth, it.d);  // maps and lists nest; scalars do not
    if (it.j->is_number_float() && !std::isfinite(it.j->get<double>())) s.finite = false;
    if (it.j->is_object()) {
      for (auto c = it.j->begin(); c != it.j->end(); ++c) {
        size_t len = json(c.key()).dump(-1, ' ', true, json::error_handler_t::replace).size();
        s.longest_key = std::max(s.longest_key, len);
        stack.push_back({&c.value(), it.d + 1});
      }
    } else if (it.j->is_array()) {
      for (const auto& c : *it.j) stack.push_back({&c, it.d + 1});
    }
  }
  return s;
}

bool StartsWith(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const bosun::LoadLimits limits;  // the defaults, as bosun uses them
  auto r = bosun::LoadYaml(text, "fuzz.yaml", limits);
  if (!r.ok()) {
    const bosun::Error& e = r.error();
    if (e.code() != bosun::Code::kInvalid && e.code() != bosun::Code::kTooLarge) {
      Broken("error code is neither kInvalid nor kTooLarge", e.message());
    }
    if (!StartsWith(e.message(), "fuzz.yaml")) Broken("error message does not name the file", e.message());
    return 0;
  }

  const std::vector<bosun::Document>& docs = *r;
  for (size_t i = 0; i < docs.size(); ++i) {
    const bosun::Document& d = docs[i];
    if (d.index != static_cast<int>(i)) Broken("document index is not its position", std::to_string(d.index));
    if (d.file != "fuzz.yaml") Broken("document file name changed", d.file);
    if (d.value.is_null()) Broken("an empty (null) document was returned", "");
    if (!d.positions) Broken("document without positions", "");
    if (!d.start.known() || d.start.column < 1) Broken("document start unknown", "");
    // Maps and lists record their position (a scalar root does not yet: a
    // defect reported separately; callers fall back to d.start).
    if (d.value.is_structured() && !d.positions->Find(bosun::FieldPath()).known()) {
      Broken("root position unknown", "");
    }

    const Shape shape = Measure(d.value);
    if (shape.nodes > limits.max_nodes) Broken("document over max_nodes", std::to_string(shape.nodes));
    if (shape.depth > static_cast<size_t>(limits.max_depth)) {
      Broken("document nested deeper than max_depth", std::to_string(shape.depth));
    }

    // Re-serialise, as everything downstream of the loader does.
    try {
      (void)d.value.dump();
    } catch (const json::exception& e) {
      Broken("value.dump() throws on a loaded document", e.what());
    }

    // The JSON text is YAML too: it must load back to the same value.
    if (!shape.finite) continue;             // JSON has no infinity or NaN
    if (shape.longest_key > 1024) continue;  // YAML's limit on implicit keys
    // ASCII with \u escapes: libyaml refuses some characters JSON allows raw
    // (DEL, C1 controls, U+FFFE).
    std::string ascii = d.value.dump(-1, ' ', /*ensure_ascii=*/true);
    if (ascii.size() > limits.max_document_bytes) continue;
    // Surrogate-pair escapes are a known defect (reported): skip those.
    bool surrogates = false;
    for (const char* hi : {"\\ud8", "\\ud9", "\\uda", "\\udb"}) surrogates |= ascii.find(hi) != std::string::npos;
    if (surrogates) continue;
    auto again = bosun::LoadYaml(ascii, "fuzz.json", limits);
    if (!again.ok()) Broken("the dumped JSON does not load", again.error().message() + "\n" + ascii);
    if (again->size() != 1 || (*again)[0].value != d.value) {
      Broken("the dumped JSON loads to a different value",
             ascii + "\n=>\n" + (again->empty() ? std::string("(nothing)") : (*again)[0].value.dump()));
    }
  }
  return 0;
}
