// cli/member_settings.h — the settings every member of a cluster must share,
// as each publishes them with its API URL (cli/member_routes.h), and what to
// say when they differ (docs/API.md "Several members"):
//
//   * encryptionKeyId: the id of its --encryption-key-file's key (crypto/
//     aead.h: it names the key and reveals nothing of it). A member with
//     another key cannot read the Secrets the others stored: it fails once it
//     leads.
//   * gitops: what it follows, {url, ref, path, verifyCommits}, or null when
//     it was started without --repo. Only the leader syncs, with its own
//     flags: members that differ would switch the cluster's source (and
//     prune what the other source has) at each election. While they differ
//     the leader applies nothing (reconciler::SyncOptions::source_conflict).
//
// Members that published nothing (not started since, or an older bosun)
// are left out: they cannot be compared.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/object.h"
#include "state/service.h"

namespace bosun::cli {

// {"id", "isLeader", and the published settings} of each member, as the
// API's member list has them (GET /bosun/v1/members "items"). The member
// asking puts its own settings as they are now in `self_settings` (a JSON
// object; "" to take the registry's): its record there may be the one it
// published before a restart with other flags.
Json MemberItems(const std::vector<state::MemberInfo>& members, const std::string& self_settings = "");

// The published settings of this member, as a JSON object: its key's id and
// its GitOps source (`gitops` null without --repo).
Json MemberSettings(const std::string& encryption_key_id, const std::optional<Json>& gitops);

// One sentence per setting the members of `items` (GET /bosun/v1/members
// "items") do not agree on, naming each member's value and what to do.
std::vector<std::string> MemberSettingConflicts(const Json& items);

// The GitOps source part of MemberSettingConflicts alone, or nullopt.
std::optional<std::string> GitOpsSourceConflict(const Json& items);

}  // namespace bosun::cli
