# Sourced by the set-up scripts: installs the Debian packages that are missing.
#   ensure_packages WHO PACKAGE...   (WHO names the script in its message)
# Needs root or sudo when something is missing; does nothing (no apt-get update) otherwise.
ensure_packages() {
  local who=$1 sudo="" p
  shift
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "$who: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}
