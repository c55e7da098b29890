# Sourced by the build-check scripts: copy the working tree (uncommitted
# edits included, generated kernels left out) into a fresh scratch folder.
# Needs REPO and a name; sets WORK (removed on exit unless KEEP=1) and SRC.
scratch_copy() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlcore-$1.XXXXXX")
    trap 'if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi' EXIT
    SRC=$WORK/src
    mkdir -p "$SRC"
    (cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf - | tar -xf - -C "$SRC")
    rm -f "$SRC"/mlcore/_kernels*.so "$SRC"/mlcore/_kernels.c
}
