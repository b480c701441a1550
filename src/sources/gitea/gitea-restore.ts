/**
 * The restore of a Gitea dump, as Gitea documents it (there is no `gitea restore`): unpack the
 * dump, put app.ini, data/, repos/ and custom/ where the instance keeps them, load gitea-db.sql
 * into a new SQLite file, give everything to Gitea's user. One bash script run where Gitea
 * lives (through the source's runner) with the tar on stdin: nothing is unpacked on the
 * lifeboat host, and no Gitea path needs to be visible here.
 *
 * Everything is unpacked and loaded into a staging dir beside the data dir first; only then is
 * each live path swapped for its new copy by rename, the old one kept in the staging dir until
 * all swaps are done. A failure at any step puts the old paths back, so a broken dump or a
 * missing sqlite3 leaves the instance as it was.
 */

/** The arguments of the script, in order (positional: no quoting games). */
export interface RestorePaths {
  readonly config: string;
  readonly data: string;
  readonly repos: string;
  readonly custom: string;
  readonly db: string;
  /** The user to chown to ('' = keep the owners of the archive). */
  readonly owner: string;
  /** Whether to load gitea-db.sql into `db` (SQLite). */
  readonly loadDb: boolean;
  /** A file where the runner's commands can read it, that replaces the dump's app.ini ('' = the dump's). */
  readonly appIni: string;
}

export function restoreArgs(p: RestorePaths): string[] {
  return [p.config, p.data, p.repos, p.custom, p.db, p.owner, p.loadDb ? '1' : '0', p.appIni];
}

export const RESTORE_SCRIPT = String.raw`
set -uo pipefail
conf=$1 data=$2 repos=$3 custom=$4 db=$5 owner=$6 loaddb=$7 appini=$8
fail() { echo "lifeboat: $*" >&2; exit 1; }
parent=$(dirname "$data")
mkdir -p "$parent" || fail "cannot create $parent"
stage=$(mktemp -d "$parent/.lifeboat-gitea-restore.XXXXXX") || fail "cannot create a staging dir in $parent"
mkdir "$stage/new"
n=0
olds=()
undo() {
  local i dst old
  for ((i=${"$"}{#olds[@]}-1; i>=0; i--)); do
    dst=${"$"}{olds[$i]%%|*}; old=${"$"}{olds[$i]#*|}
    rm -rf "$dst"
    if [ -n "$old" ]; then mv "$old" "$dst"; fi
  done
  rm -rf "$stage"
}
abort() { undo; fail "$* (the instance is as it was)"; }
# swap NEW DST: DST becomes NEW; the old DST waits in the staging dir until the end.
swap() {
  local old=""
  mkdir -p "$(dirname "$2")" || return 1
  if [ -e "$2" ] || [ -L "$2" ]; then old="$stage/old.$n"; n=$((n+1)); mv "$2" "$old" || return 1; fi
  olds+=("$2|$old")
  mv "$1" "$2"
}
tar -x -f - -C "$stage/new" || abort "cannot unpack the dump"
[ -f "$stage/new/app.ini" ] || abort "the dump has no app.ini"
if [ -n "$appini" ]; then cp "$appini" "$stage/new/app.ini" || abort "cannot copy the drill's app.ini"; fi
if [ "$loaddb" = 1 ]; then
  [ -f "$stage/new/gitea-db.sql" ] || abort "the dump has no gitea-db.sql"
  command -v sqlite3 >/dev/null || abort "sqlite3 is not installed where Gitea runs (it loads gitea-db.sql): install it (Debian sqlite3, Alpine sqlite)"
  sqlite3 -bail "$stage/gitea.db" < "$stage/new/gitea-db.sql" || abort "sqlite3 could not load gitea-db.sql"
fi
mkdir -p "$stage/new/data" "$stage/new/repos"
swap "$stage/new/data" "$data" || abort "cannot put the data dir in place at $data"
swap "$stage/new/repos" "$repos" || abort "cannot put the repositories in place at $repos"
hascustom=0
if [ -d "$stage/new/custom" ]; then swap "$stage/new/custom" "$custom" || abort "cannot put the custom dir in place at $custom"; hascustom=1; fi
if [ "$loaddb" = 1 ]; then
  # The dump's data/ holds a raw copy of the live SQLite file (and its -wal): the loaded dump replaces them.
  rm -f "$db-wal" "$db-shm" "$db-journal"
  swap "$stage/gitea.db" "$db" || abort "cannot put the database in place at $db"
fi
swap "$stage/new/app.ini" "$conf" || abort "cannot put app.ini in place at $conf"
if [ -n "$owner" ] && [ "$(id -u)" = 0 ]; then
  group=$(id -g "$owner") || abort "no user $owner here"
  paths=("$data" "$repos" "$conf")
  if [ "$loaddb" = 1 ]; then paths+=("$db"); fi
  if [ "$hascustom" = 1 ]; then paths+=("$custom"); fi
  chown -R "$owner:$group" "${"$"}{paths[@]}" || abort "cannot give the restored files to $owner"
fi
rm -rf "$stage"
`;
