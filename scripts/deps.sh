# deps.sh — sourced by scripts/*: installs the Debian packages gridsync needs
# when they are missing. Every install step lives here, never done by hand.
#
# gs_deps [EXTRA_PACKAGE...]

GS_DEPS_BASE="cmake make gcc g++ pkg-config libsodium-dev libzmq3-dev
liblmdb-dev libcmocka-dev libjansson-dev libsimdjson-dev libzstd-dev"
# clang builds the sanitizer pass and the fuzzers; its runtimes come apart
GS_DEPS_CLANG="clang libclang-rt-14-dev"

gs_deps() {
    local want="$GS_DEPS_BASE $*" missing=() p
    for p in $want; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "gridsync: installing missing packages: ${missing[*]}" >&2
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null; then
            sudo="sudo"
        else
            echo "gridsync: missing packages ${missing[*]} and not root;" \
                "install them with apt-get as root, then run again" >&2
            return 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq || {
        echo "gridsync: apt-get update failed; check the network and" \
            "/etc/apt/sources.list, then run again" >&2
        return 1
    }
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
        {
            echo "gridsync: could not install ${missing[*]}" >&2
            return 1
        }
}

gs_jobs() {
    nproc 2>/dev/null || echo 2
}
