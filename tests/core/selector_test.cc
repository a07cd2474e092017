// Label selectors against apimachinery's tables (pkg/labels/selector_test.go,
// meta/v1 LabelSelectorAsSelector): parsing, canonical strings, matching and
// the metav1.LabelSelector form.
#include "core/selector.h"

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace bosun {
namespace {

using json = nlohmann::json;
using Op = Selector::Operator;

Selector P(std::string_view s) {
  auto sel = Selector::Parse(s);
  EXPECT_TRUE(sel.ok()) << s << ": " << (sel.ok() ? "" : sel.error().message());
  return sel.ok() ? *sel : Selector::Nothing();
}

std::string ParseError(std::string_view s) {
  auto sel = Selector::Parse(s);
  if (sel.ok()) return "parsed as \"" + sel->String() + "\"";
  EXPECT_EQ(sel.error().code(), Code::kInvalid);
  return sel.error().message();
}

std::string LabelSelectorError(const json& j) {
  auto sel = Selector::FromLabelSelector(j);
  if (sel.ok()) return "accepted as \"" + sel->String() + "\"";
  EXPECT_EQ(sel.error().code(), Code::kInvalid);
  return sel.error().message();
}

// TestSelectorParse and TestSetSelectorParser: valid strings and their
// canonical form (sorted by key, stable within a key; sets sorted).
TEST(SelectorTest, ParseAndCanonicalString) {
  struct Case {
    const char* in;
    const char* out;
  } cases[] = {
      {"", ""},
      {"   ", ""},
      {"x=a,y=b,z=c", "x=a,y=b,z=c"},
      {"x!=a,y=b", "x!=a,y=b"},
      {"x=", "x="},
      {"x= ", "x="},
      {"x=,z= ", "x=,z="},
      {"x= ,z= ", "x=,z="},
      {"!x", "!x"},
      {"x>1", "x>1"},
      {"x>1,z<5", "x>1,z<5"},
      {"x==y", "x==y"},
      {"\rx", "x"},
      {"this-is-a-dns.domain.com/key-with-dash", "this-is-a-dns.domain.com/key-with-dash"},
      {"this-is-another-dns.domain.com/key-with-dash in (so,what)",
       "this-is-another-dns.domain.com/key-with-dash in (so,what)"},
      {"0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)", "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)"},
      {"foo  in\t (abc)", "foo in (abc)"},
      {"x notin\n (abc)", "x notin (abc)"},
      {"x  notin\t\t\t(abc,def)", "x notin (abc,def)"},
      {"x in (def,abc)", "x in (abc,def)"},
      {"x in (abc,)", "x in (,abc)"},
      {"x in (abc,abc)", "x in (abc)"},
      {"x in ()", "x in ()"},
      {"x in (a,,)", "x in (,a)"},
      {"x in (a,,,,,,)", "x in (,a)"},
      {"x in (a,,a,,a,,a,,)", "x in (,a)"},
      {"x notin ( )", "x notin ()"},
      {"x notin (, a)", "x notin (,a)"},
      {"x notin (abc,,def),bar,z in (),w", "bar,w,x notin (,abc,def),z in ()"},
      {"x,y in (a)", "x,y in (a)"},
      {"y in (a),x", "x,y in (a)"},
      {"a ", "a"},
      {"a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)"},
      {"in in (in),notin notin (notin)", "in in (in),notin notin (notin)"},
      {"notin=in", "notin=in"},
      {"x=a,a=x", "a=x,x=a"},
      {"z!=a,z,x=abc,y==jkl", "x=abc,y==jkl,z!=a,z"},
      {"z,z!=a", "z,z!=a"},
      {"app=web,tier!=db,env in (a,b),env notin (c),!foo,foo,x==y",
       "app=web,env in (a,b),env notin (c),!foo,foo,tier!=db,x==y"},
      {"app.kubernetes.io/name=web", "app.kubernetes.io/name=web"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(P(c.in).String(), c.out) << c.in;
    // The canonical form parses to itself.
    EXPECT_EQ(P(c.out).String(), c.out) << c.out;
  }
  EXPECT_TRUE(P("").Empty());
  EXPECT_FALSE(P("x").Empty());
}

TEST(SelectorTest, ParsedRequirements) {
  Selector s = P("b notin (y,x,y),a=1,!c,d,e>5");
  ASSERT_EQ(s.requirements().size(), 5u);
  EXPECT_EQ(s.requirements()[0].key, "a");
  EXPECT_EQ(s.requirements()[0].op, Op::kEquals);
  EXPECT_EQ(s.requirements()[0].values, std::vector<std::string>{"1"});
  EXPECT_EQ(s.requirements()[1].op, Op::kNotIn);
  EXPECT_EQ(s.requirements()[1].values, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(s.requirements()[2].op, Op::kDoesNotExist);
  EXPECT_TRUE(s.requirements()[2].values.empty());
  EXPECT_EQ(s.requirements()[3].op, Op::kExists);
  EXPECT_EQ(s.requirements()[4].op, Op::kGreaterThan);
}

TEST(SelectorTest, ParseErrorsSayWhereAndWhat) {
  struct Case {
    const char* in;
    const char* message;
  } cases[] = {
      {"x=a||y=b",
       "\"x=a||y=b\" is not a valid label selector: invalid value \"a||y\" for key \"x\": a valid label must be an "
       "empty string or consist of alphanumeric characters"},
      {"x==a==b", "found \"==\" at column 5, expected \",\" or the end"},
      {"!x=a", "found \"=\" at column 3, expected \",\" or the end"},
      {"x<a", "the value \"a\" for key \"x\" must be an integer for > and <"},
      {"x>1.5", "must be an integer"},
      {"x>99999999999999999999", "must be an integer"},
      {"x>-1", "invalid value \"-1\" for key \"x\""},
      {"x,,y", "found \",\" at column 3, expected a key or \"!\" after \",\""},
      {",x,y", "found \",\" at column 1, expected a key or \"!\""},
      {"x nott in (y)",
       "found \"nott\" at column 3, expected an operator (=, ==, !=, in, notin, >, <) after key \"x\""},
      {"a in (xyz),", "found the end at column 12, expected a key or \"!\" after \",\""},
      {"a in (xyz)b notin ()", "found \"b\" at column 11, expected \",\" or the end"},
      {"a in (xyz abc)", "found \"abc\" at column 11, expected \",\" or \")\""},
      {"a notin(", "found the end at column 9, expected a value, \",\" or \")\""},
      {"a in (b", "found the end at column 8, expected \",\" or \")\""},
      {"a in b", "found \"b\" at column 6, expected \"(\" after \"in\""},
      {"a notin", "found the end at column 8, expected \"(\" after \"notin\""},
      {"a in (=)", "found \"=\" at column 7, expected a value, \",\" or \")\""},
      {"a in (,=)", "found \"=\" at column 8, expected a value or \",\""},
      {"a (", "found \"(\" at column 3, expected an operator"},
      {"(", "found \"(\" at column 1, expected a key or \"!\""},
      {"!", "found the end at column 2, expected a key after \"!\""},
      {"!!x", "found \"!\" at column 2, expected a key after \"!\""},
      {"!=x", "found \"!=\" at column 1, expected a key or \"!\""},
      {"x=(a)", "found \"(\" at column 3, expected a value"},
      {"x b", "found \"b\" at column 3, expected an operator"},
      {"-x=a", "invalid key \"-x\": name part must consist of alphanumeric characters"},
      {"a/b/c", "invalid key \"a/b/c\": a valid label key must consist of"},
      {"Foo.com/x", "invalid key \"Foo.com/x\": prefix part a lowercase RFC 1123 subdomain"},
      {"x in (a,-b,c-)", "invalid value \"-b\" for key \"x\""},
  };
  for (const Case& c : cases) {
    std::string got = ParseError(c.in);
    EXPECT_NE(got.find(c.message), std::string::npos) << c.in << ": got " << got << "\nwant " << c.message;
  }
  // Every bad value is reported, not only the first.
  std::string both = ParseError("x in (-a,-b)");
  EXPECT_NE(both.find("\"-a\""), std::string::npos) << both;
  EXPECT_NE(both.find("\"-b\""), std::string::npos) << both;
}

// TestSelectorMatches and TestRequirementSelectorMatching.
TEST(SelectorTest, Matches) {
  struct Case {
    const char* selector;
    Labels labels;
    bool want;
  } cases[] = {
      {"", {{"x", "y"}}, true},
      {"", {}, true},
      {"x=y", {{"x", "y"}}, true},
      {"x==y", {{"x", "y"}}, true},
      {"x=y,z=w", {{"x", "y"}, {"z", "w"}}, true},
      {"x!=y,z!=w", {{"x", "z"}, {"z", "a"}}, true},
      {"notin=in", {{"notin", "in"}}, true},
      {"x", {{"x", "z"}}, true},
      {"!x", {{"y", "z"}}, true},
      {"x>1", {{"x", "2"}}, true},
      {"x<1", {{"x", "0"}}, true},
      {"x=z", {}, false},
      {"x=y", {{"x", "z"}}, false},
      {"x=y,z=w", {{"x", "w"}, {"z", "w"}}, false},
      {"x!=y,z!=w", {{"x", "z"}, {"z", "w"}}, false},
      {"x", {{"y", "z"}}, false},
      {"!x", {{"x", "z"}}, false},
      {"x>1", {{"x", "0"}}, false},
      {"x<1", {{"x", "2"}}, false},
      {"x>1", {{"x", "1"}}, false},
      {"x>1", {}, false},
      {"x<1", {}, false},
      {"z>1", {{"z", "v2"}}, false},  // not an integer: matches neither
      {"z<1", {{"z", "v2"}}, false},
      {"z<10", {{"z", "-5"}}, true},
      {"foo=bar", {{"foo", "bar"}, {"baz", "blah"}}, true},
      {"foo=bar,baz=blah", {{"foo", "bar"}, {"baz", "blah"}}, true},
      {"foo=blah", {{"foo", "bar"}, {"baz", "blah"}}, false},
      {"foo=bar,foobar=bar,baz=blah", {{"foo", "bar"}, {"baz", "blah"}}, false},
      {"x in (foo),y notin (alpha)", {{"x", "foo"}, {"y", "baz"}}, true},
      {"x in (foo),y in (alpha)", {{"x", "foo"}, {"y", "baz"}}, false},
      {"x notin (),y", {{"y", ""}}, true},
      {"!x,y", {{"y", ""}}, true},
      {"x notin (),!y", {{"y", ""}}, false},
      {"x in ()", {{"y", "baz"}}, false},
      {"x in ()", {{"x", ""}}, true},
      {"x=", {{"x", ""}}, true},
      {"x=", {}, false},
      {"x!=", {}, true},
      {"x!=a", {}, true},  // NotEquals matches a missing key
      {"x notin (a)", {}, true},
      {"x in (a,b)", {{"x", "b"}}, true},
      {"x in (a,b)", {{"x", "c"}}, false},
      {"x notin (a,b)", {{"x", "c"}}, true},
      {"x notin (a,b)", {{"x", "a"}}, false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(P(c.selector).Matches(c.labels), c.want) << c.selector;
  }
}

TEST(SelectorTest, EverythingNothingAndSets) {
  EXPECT_TRUE(Selector::Everything().Matches({{"x", "y"}}));
  EXPECT_TRUE(Selector::Everything().Matches({}));
  EXPECT_TRUE(Selector::Everything().Empty());
  EXPECT_FALSE(Selector::Everything().MatchesNothing());
  EXPECT_EQ(Selector::Everything().String(), "");

  EXPECT_FALSE(Selector::Nothing().Matches({{"x", "y"}}));
  EXPECT_FALSE(Selector::Nothing().Matches({}));
  EXPECT_FALSE(Selector::Nothing().Empty());
  EXPECT_TRUE(Selector::Nothing().MatchesNothing());
  EXPECT_EQ(Selector::Nothing().String(), "");

  Labels labels = {{"foo", "bar"}, {"baz", "blah"}};
  EXPECT_TRUE(Selector::FromSet({}).Matches(labels));
  EXPECT_TRUE(Selector::FromSet({}).Empty());
  EXPECT_TRUE(Selector::FromSet({{"foo", "bar"}}).Matches(labels));
  EXPECT_TRUE(Selector::FromSet(labels).Matches(labels));
  EXPECT_FALSE(Selector::FromSet({{"foo", "baz"}}).Matches(labels));
  EXPECT_EQ(Selector::FromSet({{"app", "foo"}, {"a", "b"}}).String(), "a=b,app=foo");
}

// LabelSelectorAsSelector.
TEST(SelectorTest, FromLabelSelector) {
  auto from = [](const json& j) {
    auto s = Selector::FromLabelSelector(j);
    EXPECT_TRUE(s.ok()) << j.dump() << ": " << (s.ok() ? "" : s.error().message());
    return s.ok() ? *s : Selector::Everything();
  };
  // null selects nothing, {} everything.
  EXPECT_TRUE(from(json(nullptr)).MatchesNothing());
  EXPECT_FALSE(from(json(nullptr)).Matches({}));
  EXPECT_TRUE(from(json::object()).Empty());
  EXPECT_TRUE(from(json::object()).Matches({{"a", "b"}}));
  EXPECT_TRUE(from(json{{"matchLabels", json::object()}, {"matchExpressions", json::array()}}).Empty());
  EXPECT_TRUE(from(json{{"matchLabels", nullptr}, {"matchExpressions", nullptr}}).Empty());

  Selector s = from(json::parse(R"({
    "matchLabels": {"app": "web", "app.kubernetes.io/part-of": "shop"},
    "matchExpressions": [
      {"key": "tier", "operator": "In", "values": ["front", "edge"]},
      {"key": "env", "operator": "NotIn", "values": ["dev"]},
      {"key": "canary", "operator": "DoesNotExist"},
      {"key": "team", "operator": "Exists", "values": []},
      {"key": "app", "operator": "Exists", "values": null}
    ]})"));
  EXPECT_EQ(s.String(), "app=web,app,app.kubernetes.io/part-of=shop,!canary,env notin (dev),team,tier in (edge,front)");
  // Values keep their written order; only the string is sorted.
  EXPECT_EQ(s.requirements().back().values, (std::vector<std::string>{"front", "edge"}));

  Labels ok = {{"app", "web"}, {"app.kubernetes.io/part-of", "shop"}, {"tier", "edge"}, {"team", "a"}};
  EXPECT_TRUE(s.Matches(ok));
  Labels canary = ok;
  canary["canary"] = "true";
  EXPECT_FALSE(s.Matches(canary));
  Labels dev = ok;
  dev["env"] = "dev";
  EXPECT_FALSE(s.Matches(dev));
  Labels prod = ok;
  prod["env"] = "prod";
  EXPECT_TRUE(s.Matches(prod));
  Labels no_team = ok;
  no_team.erase("team");
  EXPECT_FALSE(s.Matches(no_team));
  Labels back = ok;
  back["tier"] = "back";
  EXPECT_FALSE(s.Matches(back));

  // An empty label value is a value.
  EXPECT_TRUE(from(json{{"matchLabels", {{"a", ""}}}}).Matches({{"a", ""}}));
  EXPECT_FALSE(from(json{{"matchLabels", {{"a", ""}}}}).Matches({}));
}

TEST(SelectorTest, FromLabelSelectorErrorsNameTheField) {
  struct Case {
    const char* json_text;
    const char* message;
  } cases[] = {
      {R"({"matchExpressions": [{"key": "a", "operator": "Foo"}]})",
       "matchExpressions[0].operator: \"Foo\" is not a valid operator (use In, NotIn, Exists or DoesNotExist"},
      {R"({"matchExpressions": [{"key": "a", "operator": "in", "values": ["x"]}]})",
       "matchExpressions[0].operator: \"in\" is not a valid operator"},
      {R"({"matchExpressions": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "In"}]})",
       "matchExpressions[1].values: must be non-empty when operator is In"},
      {R"({"matchExpressions": [{"key": "b", "operator": "NotIn", "values": []}]})",
       "matchExpressions[0].values: must be non-empty when operator is NotIn"},
      {R"({"matchExpressions": [{"key": "b", "operator": "Exists", "values": ["x"]}]})",
       "matchExpressions[0].values: must be empty when operator is Exists"},
      {R"({"matchExpressions": [{"key": "b", "operator": "DoesNotExist", "values": ["x"]}]})",
       "matchExpressions[0].values: must be empty when operator is DoesNotExist"},
      {R"({"matchExpressions": [{"operator": "Exists"}]})", "matchExpressions[0].key: is required"},
      {R"({"matchExpressions": [{"key": "a"}]})",
       "matchExpressions[0].operator: is required (one of In, NotIn, Exists, DoesNotExist)"},
      {R"({"matchExpressions": [{"key": "-a", "operator": "Exists"}]})",
       "matchExpressions[0].key: \"-a\" is not a valid label key: name part must consist of"},
      {R"({"matchExpressions": [{"key": "a", "operator": "In", "values": ["ok", "-bad"]}]})",
       "matchExpressions[0].values[1]: \"-bad\" is not a valid label value: a valid label must be"},
      {R"({"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]})",
       "matchExpressions[0].values[0]: must be a string, not number"},
      {R"({"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]})",
       "matchExpressions[0].values: must be a list of strings, not string"},
      {R"({"matchExpressions": [{"key": 5, "operator": "Exists"}]})",
       "matchExpressions[0].key: must be a string, not number"},
      {R"({"matchExpressions": [{"key": "a", "operator": true}]})",
       "matchExpressions[0].operator: must be a string, not boolean"},
      {R"({"matchExpressions": [{"key": "a", "operator": "Exists", "value": ["x"]}]})",
       "matchExpressions[0]: unknown field \"value\" (expected key, operator, values)"},
      {R"({"matchExpressions": ["a"]})",
       "matchExpressions[0]: must be an object with key, operator and values, not string"},
      {R"({"matchExpressions": {"key": "a"}})", "matchExpressions: must be a list, not object"},
      {R"({"matchLabels": {"app": 1}})", "matchLabels.app: must be a string, not number"},
      {R"({"matchLabels": ["app"]})", "matchLabels: must be an object of label keys to values, not array"},
      {R"({"matchLabels": {"-app": "web"}})", "matchLabels: \"-app\" is not a valid label key: name part must"},
      {R"({"matchLabels": {"app": "-web"}})", "matchLabels.app: \"-web\" is not a valid label value: a valid label"},
      {R"({"matchLabels": {"app.kubernetes.io/name": "a b"}})",
       "matchLabels[app.kubernetes.io/name]: \"a b\" is not a valid label value"},
      {R"({"matchLabel": {"app": "web"}})", "unknown field \"matchLabel\" (expected matchLabels, matchExpressions)"},
      {R"("app=web")", "a label selector must be an object with matchLabels and/or matchExpressions, not string"},
      {R"([])", "must be an object with matchLabels and/or matchExpressions, not array"},
  };
  for (const Case& c : cases) {
    std::string got = LabelSelectorError(json::parse(c.json_text));
    EXPECT_NE(got.find(c.message), std::string::npos) << c.json_text << ": got " << got << "\nwant " << c.message;
  }
  // All problems are reported at once.
  std::string all = LabelSelectorError(json::parse(R"({
    "matchLabels": {"app": "-web"},
    "matchExpressions": [{"key": "a", "operator": "Foo"}, {"key": "b", "operator": "In"}]})"));
  EXPECT_NE(all.find("matchLabels.app:"), std::string::npos) << all;
  EXPECT_NE(all.find("matchExpressions[0].operator:"), std::string::npos) << all;
  EXPECT_NE(all.find("matchExpressions[1].values:"), std::string::npos) << all;
}

}  // namespace
}  // namespace bosun
