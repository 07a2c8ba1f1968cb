#!/bin/sh
# Install raci's build and test dependencies from Debian 12's archive.
# Idempotent: does nothing when every package is already installed.
# As root it runs apt-get; as another user it prints the exact command and stops.
set -eu

PKGS="build-essential cmake pkg-config libopenmpi-dev openmpi-bin petsc-dev \
libpnetcdf-dev pnetcdf-bin libopenblas-dev netcdf-bin libnetcdf-dev libudunits2-dev \
python3-numpy python3-matplotlib python3-netcdf4 gmt-gshhg-low"

# Optional groups, asked for by name: slurm (job tests), torch (reference generator).
for extra in "$@"; do
  case "$extra" in
    slurm) PKGS="$PKGS slurm-wlm munge" ;;
    torch) PKGS="$PKGS python3-torch" ;;
    *) echo "install-deps.sh: unknown group '$extra' (known: slurm, torch)" >&2; exit 2 ;;
  esac
done

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

cmd="apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: missing Debian packages:$missing" >&2
  echo "install-deps.sh: run as root:  apt-get update && $cmd" >&2
  exit 1
fi
echo "install-deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -q
$cmd
