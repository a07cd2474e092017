// The settings every member must share (cli/member_settings.h).
#include "cli/member_settings.h"

#include <map>
#include <utility>

#include "gitsync/mirror.h"

namespace bosun::cli {
namespace {

// "member 3", "members 1 and 2", "members 1, 2 and 4"; the leader marked.
std::string MemberNames(const std::vector<std::pair<std::string, bool>>& ids) {
  std::string s = ids.size() == 1 ? "member " : "members ";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) s += i + 1 == ids.size() ? " and " : ", ";
    s += ids[i].first;
    if (ids[i].second) s += " (the leader)";
  }
  return s;
}

std::string Str(const Json& j, const char* key) {
  const Json& v = Object::Field(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

// A folder as the flag may give it: "deploy", "deploy/", "./deploy/" are one.
std::string NormalFolder(std::string p) {
  while (p.rfind("./", 0) == 0) p.erase(0, 2);
  while (!p.empty() && p.back() == '/') p.pop_back();
  return p == "." ? "" : p;
}

// Groups the members that published `key` by a comparable form of its value;
// each group keeps how to say that value. Members without it are left out.
struct Group {
  std::string said;
  std::vector<std::pair<std::string, bool>> ids;
};
template <typename Describe>
std::vector<Group> GroupBy(const Json& items, const char* key, Describe describe) {
  std::vector<Group> groups;
  std::map<std::string, size_t> index;
  if (!items.is_array()) return groups;
  for (const Json& m : items) {
    if (!m.is_object() || !m.contains(key)) continue;
    auto [same, said] = describe(m[key]);
    auto [it, fresh] = index.emplace(same, groups.size());
    if (fresh) groups.push_back(Group{said, {}});
    const Json& id = Object::Field(m, "id");
    groups[it->second].ids.emplace_back(id.is_number() ? id.dump() : Str(m, "id"),
                                        Object::Field(m, "isLeader") == Json(true));
  }
  return groups;
}

std::string Listed(const std::vector<Group>& groups) {
  std::string s;
  for (const Group& g : groups) {
    if (!s.empty()) s += "; ";
    s += MemberNames(g.ids) + ": " + g.said;
  }
  return s;
}

}  // namespace

Json MemberItems(const std::vector<state::MemberInfo>& members, const std::string& self_settings) {
  Json items = Json::array();
  for (const state::MemberInfo& m : members) {
    Json item = {{"id", m.id}, {"isLeader", m.is_leader}};
    const std::string& published = m.is_self && !self_settings.empty() ? self_settings : m.settings;
    state::AddMemberSettings(published, &item);
    items.push_back(std::move(item));
  }
  return items;
}

Json MemberSettings(const std::string& encryption_key_id, const std::optional<Json>& gitops) {
  return {{"encryptionKeyId", encryption_key_id}, {"gitops", gitops ? *gitops : Json(nullptr)}};
}

std::optional<std::string> GitOpsSourceConflict(const Json& items) {
  auto groups = GroupBy(items, "gitops", [](const Json& g) -> std::pair<std::string, std::string> {
    if (!g.is_object()) return {"", "no repository (started without --repo)"};
    const std::string url = Str(g, "url"), ref = Str(g, "ref"), path = NormalFolder(Str(g, "path"));
    // --branch main, --ref main and --ref refs/heads/main follow one branch;
    // …/shop.git and …/shop.git/ are one repository.
    std::string same_url = url;
    while (same_url.size() > 1 && same_url.back() == '/') same_url.pop_back();
    const std::string same_ref = gitsync::FullRefName(ref.empty() ? "main" : ref);
    std::string verify = Str(g, "verifyCommits");
    if (verify.empty()) verify = "none";
    std::string said = url + " (ref " + ref + ", " + (path.empty() ? "the whole tree" : "path " + path + "/");
    if (verify != "none") said += ", --verify-commits " + verify;
    return {same_url + '\n' + same_ref + '\n' + path + '\n' + verify, said + ")"};
  });
  if (groups.size() < 2) return std::nullopt;
  return "the members follow different sources: " + Listed(groups) +
         ". Only the leader syncs, with its own flags, so each election could switch what the cluster runs: "
         "nothing is applied until every member is started with the same --repo, --branch/--ref, --path and "
         "--verify-commits";
}

std::vector<std::string> MemberSettingConflicts(const Json& items) {
  std::vector<std::string> out;
  auto keys = GroupBy(items, "encryptionKeyId", [](const Json& k) -> std::pair<std::string, std::string> {
    const std::string id = k.is_string() ? k.get<std::string>() : "";
    return {id, "key " + id};
  });
  if (keys.size() > 1) {
    out.push_back("the members' encryption keys differ: " + Listed(keys) +
                  ". A leader cannot read the Secrets stored under another key, so after a failover Secrets and "
                  "the controllers that read them fail: start every member with the same --encryption-key-file "
                  "(docs/SECURITY.md)");
  }
  if (auto g = GitOpsSourceConflict(items)) out.push_back(*g);
  return out;
}

}  // namespace bosun::cli
