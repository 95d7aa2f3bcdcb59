#!/usr/bin/env bash
# Build, push (or load) and deploy preemptive-scheduler. See --help.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEPLOY_DIR="$REPO_ROOT/deploy"
APP=preemptive-scheduler
# Applied in this order; the Namespace only when it is not kube-system.
NAMESPACE_MANIFEST=00-namespace.yaml
MANIFESTS=(10-serviceaccount.yaml 20-rbac.yaml 30-configmap.yaml 40-deployment.yaml)
CONFIG_MANIFEST=30-configmap.yaml  # the ConfigMap whose config.yaml holds every tunable (--set edits it)
ROLLOUT_TIMEOUT="${ROLLOUT_TIMEOUT:-180s}"

usage() {
  cat <<EOF
Usage: ./deploy.sh <registry> [options]
       ./deploy.sh --kind NAME | --minikube [options]

Builds the image <registry>/$APP:<tag>, pushes it (or loads it into a local
kind/minikube cluster), applies the manifests in deploy/ and waits until the
scheduler Deployment is rolled out. Safe to run again.

Options:
  --namespace NS   namespace to run in (default: kube-system)
  --tag T          image tag (default: the git commit, plus a hash of local changes)
  --kind NAME      load the image into the kind cluster NAME (no push; registry optional)
  --minikube       load the image into minikube (no push; registry optional)
  --no-build       use an existing image: no docker build, push or load
  --set KEY=VALUE  set KEY in the ConfigMap's config.yaml before applying, e.g.
                   --set alpha=0.7 (repeatable; keys are the flag names of
                   'preemptive-scheduler run', see docs/configuration.md).
                   Checked as the scheduler checks it at start-up when python3
                   with the scheduler's dependencies is at hand (PYTHON=...
                   picks the interpreter); without it only keys already in
                   deploy/$CONFIG_MANIFEST can be set. Bad input: exit 2
  --dry-run        print the rendered manifests and change nothing
                   (needs neither docker, kubectl nor a cluster)
  --uninstall      delete everything deploy.sh created
  -h, --help       show this help

Environment: ROLLOUT_TIMEOUT (default 180s), KUBECONFIG as usual.
Exit status: 0 done, 1 a step failed (a missing tool, docker, kubectl, the
rollout), 2 bad arguments (nothing was changed).

Examples:
  ./deploy.sh registry.example.com/team
  ./deploy.sh --kind preemptive-scheduler
  ./deploy.sh myregistry --dry-run --namespace sched-test
  ./deploy.sh myregistry --set alpha=0.7 --set log-level=debug --dry-run
EOF
}

die() {
  echo "deploy.sh: error: $*" >&2
  exit 1
}

die_usage() {
  echo "deploy.sh: error: $*" >&2
  exit 2
}

log() {
  echo "==> $*" >&2
}

need() {
  # need TOOL WHY
  command -v "$1" >/dev/null 2>&1 || die "'$1' is required $2 but was not found on PATH"
}

# ---- arguments ---------------------------------------------------------------
REGISTRY=""
NAMESPACE=kube-system
TAG=""
KIND_CLUSTER=""
MINIKUBE=false
BUILD=true
DRY_RUN=false
UNINSTALL=false
SETS=()

while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --namespace) [[ $# -ge 2 ]] || die_usage "--namespace needs a value"; NAMESPACE="$2"; shift 2 ;;
    --namespace=*) NAMESPACE="${1#*=}"; shift ;;
    --tag) [[ $# -ge 2 ]] || die_usage "--tag needs a value"; TAG="$2"; shift 2 ;;
    --tag=*) TAG="${1#*=}"; shift ;;
    --kind) [[ $# -ge 2 ]] || die_usage "--kind needs a cluster name"; KIND_CLUSTER="$2"; shift 2 ;;
    --kind=*) KIND_CLUSTER="${1#*=}"; shift ;;
    --minikube) MINIKUBE=true; shift ;;
    --no-build) BUILD=false; shift ;;
    --dry-run) DRY_RUN=true; shift ;;
    --uninstall) UNINSTALL=true; shift ;;
    --set) [[ $# -ge 2 ]] || die_usage "--set needs KEY=VALUE"; SETS+=("$2"); shift 2 ;;
    --set=*) SETS+=("${1#*=}"); shift ;;
    -*) usage >&2; die_usage "unknown option: $1" ;;
    *)
      [[ -z "$REGISTRY" ]] || die_usage "only one registry may be given (got '$REGISTRY' and '$1')"
      REGISTRY="$1"; shift ;;
  esac
done

[[ "$NAMESPACE" =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]] \
  || die_usage "invalid namespace '$NAMESPACE' (lower-case letters, digits and '-', at most 63)"
[[ -z "$KIND_CLUSTER" || "$MINIKUBE" == false ]] || die_usage "--kind and --minikube exclude each other"
LOCAL_CLUSTER=false
if [[ -n "$KIND_CLUSTER" || "$MINIKUBE" == true ]]; then LOCAL_CLUSTER=true; fi
if [[ -z "$REGISTRY" && "$LOCAL_CLUSTER" == false && "$DRY_RUN" == false && "$UNINSTALL" == false && "$BUILD" == true ]]; then
  usage >&2
  die_usage "a registry is required unless --kind, --minikube, --no-build, --dry-run or --uninstall is given"
fi

default_tag() {
  if command -v git >/dev/null 2>&1 && git -C "$REPO_ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    local tag
    tag="$(git -C "$REPO_ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo dev)"
    # Local changes get a content hash, so rebuilding unchanged sources gives
    # the same tag (idempotent) and any change gives a new one.
    if ! git -C "$REPO_ROOT" diff --quiet HEAD -- setup.py README.md scheduler Dockerfile 2>/dev/null; then
      tag="$tag-dirty-$(git -C "$REPO_ROOT" diff HEAD -- setup.py README.md scheduler Dockerfile | checksum | cut -c1-8)"
    fi
    echo "$tag"
  else
    echo dev
  fi
}

checksum() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum | cut -d' ' -f1
  else
    cksum | cut -d' ' -f1
  fi
}

[[ -n "$TAG" ]] || TAG="$(default_tag)"
[[ "$TAG" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "invalid image tag '$TAG'"
if [[ -n "$REGISTRY" ]]; then
  IMAGE="${REGISTRY%/}/$APP:$TAG"
else
  IMAGE="$APP:$TAG"
fi

# ---- --set: edit the ConfigMap's config.yaml (pure bash) ---------------------
yaml_scalar() {
  # yaml_scalar VALUE: VALUE as a YAML scalar: plain when that is safe (0.7, true, 1Gi), else single-quoted
  if [[ "$1" =~ ^[A-Za-z0-9_.][A-Za-z0-9_./+=,-]*$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "${1//\'/\'\'}"
  fi
}

config_block() {
  # config_block CONTENT: each line of CONTENT as STATE, INDENT and LINE separated by \x1f: STATE is before, block or after
  # the ConfigMap's `config.yaml: |` block (block lines are indented deeper than its first line's indent)
  local line state=before indent=""
  while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ "$state" == block && -n "$line" ]]; then
      if [[ -z "$indent" ]]; then indent="${line%%[! ]*}"; fi
      if [[ -z "$indent" || "$line" != "$indent"* ]]; then state=after; fi
    fi
    printf '%s\x1f%s\x1f%s\n' "$state" "$indent" "$line"
    if [[ "$state" == before && "$line" =~ ^[[:space:]]+config\.yaml:[[:space:]]*\|[-+]?[[:space:]]*$ ]]; then
      state=block
    fi
  done <<<"$1"
}

config_keys() {
  # config_keys CONTENT: the top-level keys of the config.yaml block, one a line
  local state indent line
  while IFS=$'\x1f' read -r state indent line; do
    if [[ "$state" == block && -n "$indent" && "$line" =~ ^"$indent"([A-Za-z0-9_-]+): ]]; then
      echo "${BASH_REMATCH[1]//_/-}"
    fi
  done < <(config_block "$1")
}

set_config() {
  # set_config CONTENT KEY SCALAR: CONTENT with `KEY: SCALAR` in its config.yaml block (replacing the key,
  # spelt with - or _, or added at the block's end)
  local key="$2" value="$3" state indent line last_indent="    " done=false
  while IFS=$'\x1f' read -r state indent line; do
    if [[ "$state" == block ]]; then
      last_indent="${indent:-$last_indent}"
      if [[ -n "$indent" && ( "$line" == "$indent$key:"* || "$line" == "$indent${key//-/_}:"* ) ]]; then
        line="$indent$key: $value"; done=true
      fi
    elif [[ "$state" == after && "$done" == false ]]; then
      printf '%s\n' "$last_indent$key: $value"; done=true
    fi
    printf '%s\n' "$line"
  done < <(config_block "$1")
  if [[ "$done" == false ]]; then printf '%s\n' "$last_indent$key: $value"; fi
}

CONFIG_CONTENT=""  # the ConfigMap as edited by --set ("" without --set: the file as it is)

check_config() {
  # check_config CONTENT: the edited config, checked as `run --config` checks it: return 0 when valid, exit 2
  # when not; return 1 (with a note) when there is no python3 with the scheduler's dependencies to check it
  local python="${PYTHON:-python3}" out status=0
  if ! command -v "$python" >/dev/null 2>&1; then
    log "note: --set values not checked ('$python' not found); the scheduler checks them when it starts"
    return 1
  fi
  out="$(printf '%s\n' "$1" | PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}" "$python" -m scheduler.config_check \
    --configmap --source "deploy/$CONFIG_MANIFEST with --set" - 2>&1)" || status=$?
  case "$status" in
    0) return 0 ;;
    2) die_usage "$out" ;;
    *) out="${out##*$'\n'}"
       log "note: --set values not checked ('$python' cannot run the scheduler's config check: ${out:-exit status $status});" \
         "the scheduler checks them when it starts"
       return 1 ;;
  esac
}

apply_sets() {
  local content item key value known checked=0
  [[ -r "$DEPLOY_DIR/$CONFIG_MANIFEST" ]] || die "missing manifest deploy/$CONFIG_MANIFEST"
  content="$(<"$DEPLOY_DIR/$CONFIG_MANIFEST")"
  known="$(config_keys "$content")"
  [[ -n "$known" ]] || die "deploy/$CONFIG_MANIFEST has no config.yaml block to edit"
  for item in "${SETS[@]}"; do
    [[ "$item" == *=* ]] || die_usage "--set $item: expected KEY=VALUE"
    key="${item%%=*}"
    value="${item#*=}"
    [[ "$key" =~ ^[a-z][a-z0-9-]*$ ]] || die_usage "--set $item: '$key' is not a setting name (e.g. alpha, log-level)"
    [[ ! "$value" =~ [[:cntrl:]] ]] || die_usage "--set $key: the value must be one line of text"
    content="$(set_config "$content" "$key" "$(yaml_scalar "$value")")"
  done
  check_config "$content" || checked=$?
  if [[ "$checked" != 0 ]]; then
    # unchecked: only keys the shipped file already has may be set (a misspelt key is not added)
    for item in "${SETS[@]}"; do
      key="${item%%=*}"
      [[ $'\n'"$known"$'\n' == *$'\n'"$key"$'\n'* ]] \
        || die_usage "--set $key: not a key of deploy/$CONFIG_MANIFEST (${known//$'\n'/, }); other settings need python3 with the scheduler's dependencies (pip install .) to be checked"
    done
  fi
  CONFIG_CONTENT="$content"
}

SET_NOTE=""
if [[ ${#SETS[@]} -gt 0 ]]; then
  apply_sets
  SET_NOTE="; config.yaml edited by --set ${SETS[*]}"
fi

# ---- rendering (pure bash: no sed/envsubst needed) ---------------------------
render() {
  local files=() f content checksum_value first=true
  if [[ "$NAMESPACE" != kube-system ]]; then files+=("$NAMESPACE_MANIFEST"); fi
  files+=("${MANIFESTS[@]}")
  if [[ -n "$CONFIG_CONTENT" ]]; then
    checksum_value="$(printf '%s\n' "$CONFIG_CONTENT" | checksum | cut -c1-16)"
  else
    checksum_value="$(checksum <"$DEPLOY_DIR/$CONFIG_MANIFEST" | cut -c1-16)"
  fi
  for f in "${files[@]}"; do
    [[ -r "$DEPLOY_DIR/$f" ]] || die "missing manifest deploy/$f"
    if [[ "$f" == "$CONFIG_MANIFEST" && -n "$CONFIG_CONTENT" ]]; then
      content="$CONFIG_CONTENT"
    else
      content="$(<"$DEPLOY_DIR/$f")"
    fi
    content="${content//IMAGE_PLACEHOLDER/$IMAGE}"
    content="${content//NAMESPACE_PLACEHOLDER/$NAMESPACE}"
    content="${content//CONFIG_CHECKSUM_PLACEHOLDER/\"$checksum_value\"}"
    if [[ "$first" == true ]]; then first=false; else echo "---"; fi
    echo "# Source: deploy/$f"
    printf '%s\n' "$content"
  done
}

KUBECTL=(kubectl)
if [[ -n "$KIND_CLUSTER" ]]; then KUBECTL+=(--context "kind-$KIND_CLUSTER"); fi

if [[ "$DRY_RUN" == true ]]; then
  if [[ "$UNINSTALL" == true ]]; then
    log "dry run: would delete these objects"
  else
    log "dry run: image $IMAGE, namespace $NAMESPACE$SET_NOTE; rendered manifests follow"
  fi
  render
  exit 0
fi

# ---- tools, checked up front -------------------------------------------------
need kubectl "to talk to the cluster (https://kubernetes.io/docs/tasks/tools/)"
if [[ "$UNINSTALL" == false && "$BUILD" == true ]]; then
  need docker "to build the image (or pass --no-build)"
  docker info >/dev/null 2>&1 || die "docker is installed but its daemon is not reachable (is Docker running? may you use it?)"
fi
if [[ -n "$KIND_CLUSTER" ]]; then
  need kind "for --kind (https://kind.sigs.k8s.io/)"
  kind get clusters 2>/dev/null | grep -qx -- "$KIND_CLUSTER" \
    || die "no kind cluster named '$KIND_CLUSTER'; create one with: kind create cluster --name $KIND_CLUSTER --config deploy/kind-cluster.yaml"
fi
if [[ "$MINIKUBE" == true ]]; then
  need minikube "for --minikube (https://minikube.sigs.k8s.io/)"
fi
"${KUBECTL[@]}" version --request-timeout=10s >/dev/null 2>&1 \
  || die "cannot reach the cluster with '${KUBECTL[*]}' (check KUBECONFIG / the current context)"

# ---- uninstall ---------------------------------------------------------------
if [[ "$UNINSTALL" == true ]]; then
  log "deleting $APP from namespace $NAMESPACE"
  render | "${KUBECTL[@]}" delete --ignore-not-found=true --wait=true -f -
  # The leader-election Lease is created by the scheduler, not by the manifests.
  "${KUBECTL[@]}" -n "$NAMESPACE" delete lease "$APP" --ignore-not-found=true >/dev/null 2>&1 || true
  log "done; the image $IMAGE (if any) was left in its registry"
  exit 0
fi

# ---- image -------------------------------------------------------------------
if [[ "$BUILD" == true ]]; then
  log "building $IMAGE"
  docker build -t "$IMAGE" "$REPO_ROOT"
  if [[ -n "$KIND_CLUSTER" ]]; then
    log "loading $IMAGE into kind cluster $KIND_CLUSTER"
    kind load docker-image "$IMAGE" --name "$KIND_CLUSTER"
  elif [[ "$MINIKUBE" == true ]]; then
    log "loading $IMAGE into minikube"
    minikube image load "$IMAGE"
  else
    log "pushing $IMAGE"
    docker push "$IMAGE" || die "docker push failed: are you logged in to '$REGISTRY' (docker login)?"
  fi
else
  log "--no-build: using the existing image $IMAGE"
fi

# ---- apply and wait ----------------------------------------------------------
log "applying manifests to namespace $NAMESPACE"
render | "${KUBECTL[@]}" apply -f -

log "waiting for the rollout (timeout $ROLLOUT_TIMEOUT)"
if ! "${KUBECTL[@]}" -n "$NAMESPACE" rollout status "deployment/$APP" --timeout="$ROLLOUT_TIMEOUT"; then
  echo >&2
  echo "The scheduler did not become ready. Look at:" >&2
  echo "  ${KUBECTL[*]} -n $NAMESPACE get pods -l app=$APP" >&2
  echo "  ${KUBECTL[*]} -n $NAMESPACE describe pods -l app=$APP" >&2
  echo "  ${KUBECTL[*]} -n $NAMESPACE logs -l app=$APP --all-containers --tail=100" >&2
  exit 1
fi

SA="system:serviceaccount:$NAMESPACE:$APP"
cat <<EOF

preemptive-scheduler is running in namespace $NAMESPACE (image $IMAGE).

Use it: set in a pod spec
    spec:
      schedulerName: $APP
  and a priority, e.g. the annotation scheduler.alpha.kubernetes.io/priority: "100"
  (examples: kubectl apply -f deploy/examples/).

Check it:
  kubectl -n $NAMESPACE get pods -l app=$APP
  kubectl -n $NAMESPACE logs -l app=$APP --tail=50
  kubectl auth can-i create pods/binding --as=$SA
  kubectl auth can-i create pods/eviction --as=$SA

Remove it: ./deploy.sh --uninstall --namespace $NAMESPACE
EOF
