// core/selector.h — Kubernetes label selectors.
//
// A Selector is an AND of requirements on an object's labels, as in
// k8s.io/apimachinery/pkg/labels. It comes from one of two places:
//
//  - the string form (kubectl -l, API list options), parsed exactly as
//    labels.Parse: "app=web,tier!=db,env in (a,b),env notin (c),!foo,foo,
//    x==y,n>3". Keys and values are checked with core/labels.h; an empty
//    string selects everything.
//  - a metav1.LabelSelector object in a manifest ({matchLabels: {...},
//    matchExpressions: [{key, operator, values}]}), converted as
//    LabelSelectorAsSelector: operators In, NotIn (non-empty values), Exists,
//    DoesNotExist (no values). A JSON null selects nothing, {} everything.
//
// Matching follows Kubernetes: NotIn, != and DoesNotExist match an object
// without the key; In, =, ==, Exists, > and < need the key. String() is the
// canonical string form: requirements sorted by key (stably), multi-value
// sets sorted, so equal selectors print equally.
//
// Parse / FromLabelSelector return Code::kInvalid with a message that names
// the offending part (a column in the string, or a field such as
// "matchExpressions[0].operator"). A Selector is an immutable value and safe
// to share between threads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/labels.h"
#include "core/result.h"

namespace bosun {

class Selector {
 public:
  enum class Operator {
    kIn,            // key in (a,b)      / matchExpressions In
    kNotIn,         // key notin (a,b)   / matchExpressions NotIn
    kEquals,        // key=a             / matchLabels
    kDoubleEquals,  // key==a
    kNotEquals,     // key!=a
    kExists,        // key               / matchExpressions Exists
    kDoesNotExist,  // !key              / matchExpressions DoesNotExist
    kGreaterThan,   // key>3 (integers)
    kLessThan,      // key<3 (integers)
  };

  struct Requirement {
    std::string key;
    Operator op;
    // Sorted and de-duplicated when parsed from a string; in the order written
    // when from a LabelSelector. Exactly one for =, ==, !=, >, <.
    std::vector<std::string> values;

    bool Matches(const Labels& labels) const;
    std::string String() const;
  };

  // Everything (no requirements).
  Selector() = default;

  static Result<Selector> Parse(std::string_view text);
  static Result<Selector> FromLabelSelector(const nlohmann::json& selector);
  // key=value for each label, like labels.SelectorFromSet (a Service's
  // spec.selector). Not validated: check the labels with labels.h first.
  static Selector FromSet(const Labels& labels);
  static Selector Everything() { return Selector(); }
  static Selector Nothing();

  bool Matches(const Labels& labels) const;
  // True when the selector matches everything. Nothing() is not empty.
  bool Empty() const { return !nothing_ && requirements_.empty(); }
  // True only for Nothing() (contradictions like "a=x,a=y" are not detected).
  bool MatchesNothing() const { return nothing_; }
  // The canonical string form; "" for Everything() and, as in Kubernetes,
  // for Nothing().
  std::string String() const;
  // Sorted by key.
  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  explicit Selector(std::vector<Requirement> requirements);

  std::vector<Requirement> requirements_;
  bool nothing_ = false;
};

// A field selector as the Kubernetes API takes it (`fieldSelector=`):
// comma-separated `path=value`, `path==value` or `path!=value`, each path a
// dotted field of the object ("spec.nodeName", "metadata.name",
// "status.phase"). A missing field or one that is not a string, number or
// boolean reads as "" (so `spec.nodeName=` selects unbound pods).
class FieldSelector {
 public:
  struct Requirement {
    std::vector<std::string> path;  // {"spec", "nodeName"}
    bool equals = true;             // false for !=
    std::string value;
  };
  FieldSelector() = default;
  // kInvalid with the offending term quoted.
  static Result<FieldSelector> Parse(std::string_view text);
  bool Matches(const nlohmann::json& object) const;
  bool Empty() const { return requirements_.empty(); }
  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  std::vector<Requirement> requirements_;
};

}  // namespace bosun
