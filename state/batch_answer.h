// state/batch_answer.h — what a short batch answer (?answer=short) carries of
// each object's metadata: the fields the server sets (or may: a create with
// generateName gets its name there). The API server (api_batch.cc) writes
// them and the client (client_batch.cc) rebuilds its copy of each object from
// them, so both read this one list.
#pragma once

namespace bosun::state {

inline constexpr const char* kBatchServerSetMeta[] = {"name", "namespace", "uid", "creationTimestamp", "generation",
                                                      "resourceVersion"};

}  // namespace bosun::state
