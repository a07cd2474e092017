// Field paths a user names (bosun.dev/ignore-fields, ignoreDifferences):
// core/field_steps.h.
#include "core/field_steps.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace bosun {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// The steps as text again: "key", "#3", "*".
std::vector<std::string> Steps(const std::string& path) {
  auto steps = ParseFieldPath(path);
  if (!steps) return {"error: " + steps.error().message()};
  std::vector<std::string> out;
  for (const FieldStep& s : *steps) {
    if (s.kind == FieldStep::Kind::kKey) out.push_back(s.key);
    if (s.kind == FieldStep::Kind::kIndex) out.push_back("#" + std::to_string(s.index));
    if (s.kind == FieldStep::Kind::kEveryIndex) out.push_back("*");
  }
  return out;
}

// Every path FieldPath renders reads back into the steps it was made of, so
// a path copied from `bosun diff` or an error names the same field.
TEST(ParseFieldPath, ReadsBackWhatFieldPathRenders) {
  FieldPath p = FieldPath("spec").Child("template").Child("spec").Child("containers").Index(12).Child("image");
  EXPECT_THAT(Steps(p.str()), ElementsAre("spec", "template", "spec", "containers", "#12", "image"));
  FieldPath data = FieldPath("data").Child("app.conf");
  EXPECT_EQ(data.str(), "data[app.conf]");
  EXPECT_THAT(Steps(data.str()), ElementsAre("data", "app.conf"));
  EXPECT_THAT(Steps("metadata.labels[app.kubernetes.io/name]"),
              ElementsAre("metadata", "labels", "app.kubernetes.io/name"));
  EXPECT_THAT(Steps("spec.template.spec.containers[*].resources"),
              ElementsAre("spec", "template", "spec", "containers", "*", "resources"));
  EXPECT_THAT(Steps("a[0][1].b"), ElementsAre("a", "#0", "#1", "b"));
}

TEST(ParseFieldPath, SaysWhatIsWrongAndWhere) {
  EXPECT_THAT(Steps("spec.containers[0.image"), ElementsAre(HasSubstr("a '[' without its ']' at character 16")));
  EXPECT_THAT(Steps("spec..replicas"), ElementsAre(HasSubstr("an empty name at character 6")));
  EXPECT_THAT(Steps("spec.replicas."), ElementsAre(HasSubstr("a '.' at the end")));
  EXPECT_THAT(Steps("spec.a[]"), ElementsAre(HasSubstr("an empty '[]'")));
  EXPECT_THAT(Steps("data.app:conf"), ElementsAre(HasSubstr("\"app:conf\" needs brackets ([app:conf])")));
  EXPECT_THAT(Steps("spec.a[0]b"), ElementsAre(HasSubstr("a '.' or '[' expected after ']'")));
  EXPECT_THAT(Steps(""), ElementsAre(HasSubstr("cannot be empty")));
}

TEST(OwnedFields, AListOfPathsOutsideMetadataAndStatus) {
  EXPECT_THAT(SplitFieldList(" spec.replicas,data[a.b] ,, spec.x\n"),
              ElementsAre("spec.replicas", "data[a.b]", "spec.x"));
  EXPECT_THAT(SplitFieldList("data[a,b], spec.x"), ElementsAre("data[a,b]", "spec.x"));
  EXPECT_THAT(OwnedFieldErrors("spec.replicas, spec.template.spec.containers[*].resources"), IsEmpty());
  EXPECT_THAT(OwnedFieldErrors("metadata.labels.app"),
              ElementsAre(HasSubstr("\"metadata.labels.app\": metadata is not a field the cluster can own")));
  EXPECT_THAT(OwnedFieldErrors("status.replicas"), ElementsAre(HasSubstr("status is not a field")));
  EXPECT_THAT(OwnedFieldErrors("[0].x"), ElementsAre(HasSubstr("must start with a field name")));
  EXPECT_THAT(OwnedFieldErrors(" , "), ElementsAre(HasSubstr("names no field")));
  EXPECT_THAT(OwnedFieldErrors("spec.replicas, spec.[x"), ElementsAre(HasSubstr("not a field path")));
}

}  // namespace
}  // namespace bosun
