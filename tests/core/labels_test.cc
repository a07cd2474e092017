// Name and label syntax against apimachinery's own tables
// (util/validation/validation_test.go, api/validate/content/*_test.go) and
// its exact messages.
#include "core/labels.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace bosun {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

using Check = std::vector<std::string> (*)(std::string_view);

void ExpectValid(Check check, const std::vector<std::string>& values) {
  for (const std::string& v : values) EXPECT_THAT(check(v), IsEmpty()) << "'" << v << "'";
}

void ExpectInvalid(Check check, const std::vector<std::string>& values) {
  for (const std::string& v : values) EXPECT_FALSE(check(v).empty()) << "'" << v << "' should be invalid";
}

// "'my-name',  or '123-abc'" (comma, two spaces) is how apimachinery's
// RegexError joins examples; the messages are kept byte for byte.
const std::string kLabelRegex =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end "
    "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const std::string kSubdomainRegex =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const std::string kKeyNameRegex =
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

TEST(LabelsTest, Dns1123Label) {
  ExpectValid(CheckDns1123Label, {"a", "ab", "abc", "a1", "a-1", "a--1--2--b", "0", "01", "012", "1a", "1-a",
                                  "1--a--b--2", std::string(63, 'a')});
  ExpectInvalid(CheckDns1123Label, {"",           "A",
                                    "ABC",        "aBc",
                                    "A1",         "A-1",
                                    "1-A",        "-",
                                    "a-",         "-a",
                                    "1-",         "-1",
                                    "_",          "a_",
                                    "_a",         "a_b",
                                    "1_",         "_1",
                                    "1_2",        ".",
                                    "a.",         ".a",
                                    "a.b",        "1.",
                                    ".1",         "1.2",
                                    " ",          "a ",
                                    " a",         "a b",
                                    "1 ",         " 1",
                                    "1 2",        std::string(64, 'a'),
                                    "caf\xc3\xa9"});
  EXPECT_THAT(CheckDns1123Label("a.b"), ElementsAre("must not contain dots"));
  EXPECT_THAT(CheckDns1123Label("My-App"), ElementsAre(kLabelRegex));
  EXPECT_THAT(CheckDns1123Label(""), ElementsAre(kLabelRegex));
  EXPECT_THAT(CheckDns1123Label(std::string(64, 'a')), ElementsAre("must be no more than 63 characters"));
  EXPECT_THAT(CheckDns1123Label(std::string(64, 'A')), ElementsAre("must be no more than 63 characters", kLabelRegex));
  EXPECT_THAT(CheckDns1123Label(std::string(63, 'a') + ".b"),
              ElementsAre("must be no more than 63 characters", "must not contain dots"));
}

TEST(LabelsTest, Dns1123Subdomain) {
  ExpectValid(CheckDns1123Subdomain, {"a",
                                      "ab",
                                      "abc",
                                      "a1",
                                      "a-1",
                                      "a--1--2--b",
                                      "0",
                                      "01",
                                      "012",
                                      "1a",
                                      "1-a",
                                      "1--a--b--2",
                                      "a.a",
                                      "ab.a",
                                      "abc.a",
                                      "a1.a",
                                      "a-1.a",
                                      "a--1--2--b.a",
                                      "a.1",
                                      "ab.1",
                                      "abc.1",
                                      "a1.1",
                                      "a-1.1",
                                      "a--1--2--b.1",
                                      "0.a",
                                      "01.a",
                                      "012.a",
                                      "1a.a",
                                      "1-a.a",
                                      "0.1",
                                      "01.1",
                                      "012.1",
                                      "1a.1",
                                      "1-a.1",
                                      "1--a--b--2.1",
                                      "a.b.c.d.e",
                                      "aa.bb.cc.dd.ee",
                                      "1.2.3.4.5",
                                      "11.22.33.44.55",
                                      std::string(253, 'a'),
                                      std::string(100, 'a') + "." + std::string(100, 'b')});
  ExpectInvalid(CheckDns1123Subdomain, {"",
                                        "A",
                                        "ABC",
                                        "aBc",
                                        "A1",
                                        "A-1",
                                        "1-A",
                                        "-",
                                        "a-",
                                        "-a",
                                        "1-",
                                        "-1",
                                        "_",
                                        "a_",
                                        "_a",
                                        "a_b",
                                        "1_",
                                        "_1",
                                        "1_2",
                                        ".",
                                        "a.",
                                        ".a",
                                        "a..b",
                                        "1.",
                                        ".1",
                                        "1..2",
                                        " ",
                                        "a ",
                                        " a",
                                        "a b",
                                        "1 ",
                                        " 1",
                                        "1 2",
                                        "A.a",
                                        "aB.a",
                                        "ab.A",
                                        "A1.a",
                                        "a1.A",
                                        "A.1",
                                        "aB.1",
                                        "A1.1",
                                        "1A.1",
                                        "0.A",
                                        "01.A",
                                        "012.A",
                                        "1A.a",
                                        "1a.A",
                                        "A.B.C.D.E",
                                        "AA.BB.CC.DD.EE",
                                        "a.B.c.d.e",
                                        "aa.bB.cc.dd.ee",
                                        "a@b",
                                        "a,b",
                                        "a;b",
                                        "a:b",
                                        "a%b",
                                        "a?b",
                                        "a$b",
                                        "a.-b",
                                        "a-.b",
                                        std::string(254, 'a')});
  EXPECT_THAT(CheckDns1123Subdomain("Example.com"), ElementsAre(kSubdomainRegex));
  EXPECT_THAT(CheckDns1123Subdomain(std::string(254, 'a')), ElementsAre("must be no more than 253 characters"));
}

TEST(LabelsTest, Dns1035Label) {
  ExpectValid(CheckDns1035Label, {"a", "ab", "abc", "a1", "a-1", "a--1--2--b", std::string(63, 'a')});
  ExpectInvalid(CheckDns1035Label, {"0",
                                    "01",
                                    "012",
                                    "1a",
                                    "1-a",
                                    "1--a--b--2",
                                    "",
                                    "A",
                                    "ABC",
                                    "aBc",
                                    "A1",
                                    "A-1",
                                    "1-A",
                                    "-",
                                    "a-",
                                    "-a",
                                    "1-",
                                    "-1",
                                    "_",
                                    "a_",
                                    "a.b",
                                    "a b",
                                    std::string(64, 'a')});
  EXPECT_THAT(CheckDns1035Label("1web"),
              ElementsAre("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                          "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
                          "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"));
}

TEST(LabelsTest, QualifiedName) {
  ExpectValid(CheckQualifiedName,
              {"simple", "now-with-dashes", "1-starts-with-num", "1234", "simple/simple", "now-with-dashes/simple",
               "now-with-dashes/now-with-dashes", "now.with.dots/simple", "now-with.dashes-and.dots/simple",
               "1-num.2-num/3-num", "1234/5678", "1.2.3.4/5678", "Uppercase_Is_OK_123",
               "example.com/Uppercase_Is_OK_123", "requests.storage-foo", "app.kubernetes.io/name", "a",
               std::string(63, 'a'), std::string(253, 'a') + "/" + std::string(63, 'b')});
  ExpectInvalid(CheckQualifiedName, {"nospecialchars%^=@", "cantendwithadash-", "-cantstartwithadash-",
                                     "only/one/slash", "Example.com/abc", "example_com/abc", "example.com/", "/simple",
                                     "", "/", "a b", std::string(64, 'a'), std::string(254, 'a') + "/abc"});

  EXPECT_THAT(CheckQualifiedName("-app"), ElementsAre(kKeyNameRegex));
  EXPECT_THAT(CheckQualifiedName(""), ElementsAre("name part must be non-empty", kKeyNameRegex));
  EXPECT_THAT(CheckQualifiedName("example.com/"), ElementsAre("name part must be non-empty", kKeyNameRegex));
  EXPECT_THAT(CheckQualifiedName("/simple"), ElementsAre("prefix part must be non-empty"));
  EXPECT_THAT(CheckQualifiedName("Example.com/abc"), ElementsAre("prefix part " + kSubdomainRegex));
  EXPECT_THAT(CheckQualifiedName(std::string(254, 'a') + "/abc"),
              ElementsAre("prefix part must be no more than 253 characters"));
  EXPECT_THAT(CheckQualifiedName(std::string(64, 'a')), ElementsAre("name part must be no more than 63 bytes"));
  EXPECT_THAT(CheckQualifiedName("a/b/c"),
              ElementsAre("a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must "
                          "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
                          "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an "
                          "optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"));
  // Both halves are reported at once.
  EXPECT_THAT(CheckQualifiedName("Bad_Prefix/-bad-name"), ElementsAre("prefix part " + kSubdomainRegex, kKeyNameRegex));
}

TEST(LabelsTest, LabelValue) {
  ExpectValid(CheckLabelValue, {"simple", "now-with-dashes", "1-starts-with-num", "end-with-num-1", "1234",
                                std::string(63, 'a'), "", "MyValue", "my_value", "v1.2.3"});
  ExpectInvalid(CheckLabelValue, {"nospecialchars%^=@", "Tama-nui-te-r\xc4\x81.is.M\xc4\x81ori.sun",
                                  "\\backslashes\\are\\bad", "-starts-with-dash", "ends-with-dash-", ".starts.with.dot",
                                  "ends.with.dot.", "a/b", "a b", std::string(64, 'a')});
  const std::string regex =
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
      "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
      "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
  EXPECT_THAT(CheckLabelValue("-x"), ElementsAre(regex));
  EXPECT_THAT(CheckLabelValue(std::string(64, 'a')), ElementsAre("must be no more than 63 bytes"));
  EXPECT_THAT(CheckLabelValue(std::string(64, '-')), ElementsAre("must be no more than 63 bytes", regex));
}

TEST(LabelsTest, IanaSvcName) {
  ExpectValid(CheckIanaSvcName, {"telnet", "re-mail-ck", "pop3", "a", "a-1", "1-a", "a-1-b-2-c", "1-a-2-b-3", "http",
                                 "metrics", std::string(15, 'a')});
  ExpectInvalid(CheckIanaSvcName, {"longerthan15characters", "", std::string(16, 'a'), "12345", "1-2-3-4", "-begin",
                                   "end-", "two--hyphens", "whois++", "HTTP", "my_port"});
  EXPECT_THAT(CheckIanaSvcName("two--hyphens"), ElementsAre("must not contain consecutive hyphens"));
  EXPECT_THAT(CheckIanaSvcName("-begin"), ElementsAre("must not begin or end with a hyphen"));
  EXPECT_THAT(CheckIanaSvcName("12345"), ElementsAre("must contain at least one letter (a-z)"));
  EXPECT_THAT(CheckIanaSvcName("HTTP"),
              ElementsAre("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                          "must contain at least one letter (a-z)"));
  EXPECT_THAT(CheckIanaSvcName(""),
              ElementsAre("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                          "must contain at least one letter (a-z)"));
  EXPECT_THAT(CheckIanaSvcName("-longer--than-15-"),
              ElementsAre("must be no more than 15 characters", "must not contain consecutive hyphens",
                          "must not begin or end with a hyphen"));
}

TEST(LabelsTest, CIdentifier) {
  ExpectValid(CheckCIdentifier, {"a", "ab", "abc", "a1", "_a", "a_", "a_b", "a_1", "a__1__2__b", "__abc_123",
                                 "A", "AB", "AbC", "A1", "_A", "A_", "A_B", "A_1", "A__1__2__B", "__123_ABC"});
  ExpectInvalid(CheckCIdentifier,
                {"",   "1",   "123", "1a", "-",   "a-", "-a", "1-", "-1",  "1_", "1_2", ".",   "a.",
                 ".a", "a.b", "1.",  ".1", "1.2", " ",  "a ", " a", "a b", "1 ", " 1",  "1 2", "#a#"});
  EXPECT_THAT(CheckCIdentifier("1a"),
              ElementsAre("a valid C identifier must start with alphabetic character or '_', followed by a string "
                          "of alphanumeric characters or '_' (e.g. 'my_name',  or 'MY_NAME',  or 'MyName', regex used "
                          "for validation is '[A-Za-z_][A-Za-z0-9_]*')"));
}

TEST(LabelsTest, EnvVarName) {
  ExpectValid(CheckEnvVarName, {"ABC", "AbC_123", "_123", "Abc_123", "A.B.C", "a.b.c", "a-b-c", "-abc", "_", "-",
                                ".abc", "my.env-name", "MY_ENV.NAME", "MyEnvName1"});
  ExpectInvalid(CheckEnvVarName, {"", "1ABC", "123", "a b", "a=b", "$HOME", ".", "..", "..abc", "caf\xc3\xa9"});
  const std::string regex =
      "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and "
      "must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for "
      "validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')";
  EXPECT_THAT(CheckEnvVarName("1ABC"), ElementsAre(regex));
  EXPECT_THAT(CheckEnvVarName("."), ElementsAre("must not be '.'"));
  EXPECT_THAT(CheckEnvVarName(".."), ElementsAre("must not be '..'"));
  EXPECT_THAT(CheckEnvVarName("..abc"), ElementsAre("must not start with '..'"));
  EXPECT_THAT(CheckEnvVarName("..a b"), ElementsAre(regex, "must not start with '..'"));
}

TEST(LabelsTest, ConfigMapKey) {
  ExpectValid(CheckConfigMapKey, {"a", "good", "good-good", "still.good", "this.is.also.good", ".so.is.this",
                                  "THIS_IS_GOOD", "so_is_this_17", "config.yaml", std::string(253, 'k')});
  ExpectInvalid(CheckConfigMapKey, {".", "..", "..bad", "b*d", "bad!&bad", "", "a/b", std::string(254, 'k')});
  const std::string regex =
      "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  "
      "or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
  EXPECT_THAT(CheckConfigMapKey("b*d"), ElementsAre(regex));
  EXPECT_THAT(CheckConfigMapKey(""), ElementsAre(regex));
  EXPECT_THAT(CheckConfigMapKey(".."), ElementsAre("must not be '..'"));
  EXPECT_THAT(CheckConfigMapKey("..bad"), ElementsAre("must not start with '..'"));
  EXPECT_THAT(CheckConfigMapKey(std::string(254, 'k')), ElementsAre("must be no more than 253 characters"));
}

}  // namespace
}  // namespace bosun
