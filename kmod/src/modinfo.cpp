#include "ckms/kmod/modinfo.hpp"

#include <gelf.h>
#include <libelf.h>

#include <algorithm>
#include <memory>
#include <mutex>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"

namespace ckms::kmod {

std::string normalize_module_name(std::string_view name) {
  std::string out(name);
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

namespace {

struct ElfEnd {
  void operator()(Elf* elf) const { elf_end(elf); }
};

void init_libelf() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (elf_version(EV_CURRENT) == EV_NONE) {
      fail(ErrorKind::internal, "libelf: {}", elf_errmsg(-1));
    }
  });
}

[[noreturn]] void malformed(std::string_view what, std::string_view detail) {
  fail(ErrorKind::integrity, "{}: malformed kernel module: {}: {}", what, detail, elf_errmsg(-1));
}

// Returns the bytes of `.modinfo`, checked to lie inside the image.
std::string_view modinfo_section(Elf* elf, std::string_view image, std::string_view what) {
  std::size_t names_index = 0;
  if (elf_getshdrstrndx(elf, &names_index) != 0) malformed(what, "no section name table");
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr header;
    if (gelf_getshdr(scn, &header) == nullptr) malformed(what, "unreadable section header");
    const char* name = elf_strptr(elf, names_index, header.sh_name);
    if (name == nullptr || std::string_view(name) != ".modinfo") continue;
    if (header.sh_type == SHT_NOBITS) {
      fail(ErrorKind::integrity, "{}: malformed kernel module: .modinfo holds no data", what);
    }
    if (header.sh_offset > image.size() || header.sh_size > image.size() - header.sh_offset) {
      fail(ErrorKind::integrity,
           "{}: malformed kernel module: .modinfo (offset {}, size {}) lies outside the {} "
           "bytes of the file",
           what, header.sh_offset, header.sh_size, image.size());
    }
    return image.substr(header.sh_offset, header.sh_size);
  }
  fail(ErrorKind::integrity, "{}: not a kernel module: no .modinfo section", what);
}

ModuleParameter& parameter(ModInfo& info, std::string_view name) {
  for (ModuleParameter& p : info.parameters) {
    if (p.name == name) return p;
  }
  return info.parameters.emplace_back(ModuleParameter{std::string(name), {}, {}});
}

std::vector<std::string> split_commas(std::string_view text) {
  std::vector<std::string> parts;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view part = text.substr(0, comma);
    if (!part.empty()) parts.emplace_back(part);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return parts;
}

// `parm=` and `parmtype=` values are "<parameter>:<text>".
void add_parameter_field(ModInfo& info, std::string_view value, std::string ModuleParameter::*field) {
  const std::size_t colon = value.find(':');
  if (colon == std::string_view::npos) return;
  parameter(info, value.substr(0, colon)).*field = std::string(value.substr(colon + 1));
}

ModInfo parse_entries(std::string_view section) {
  ModInfo info;
  while (!section.empty()) {
    const std::size_t end = section.find('\0');
    const std::string_view entry = section.substr(0, end);
    section.remove_prefix(end == std::string_view::npos ? section.size() : end + 1);
    if (entry.empty()) continue;  // alignment padding between entries
    const std::size_t eq = entry.find('=');
    const std::string_view key = entry.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view() : entry.substr(eq + 1);
    info.entries.emplace_back(key, value);
    if (key == "name")
      info.name = value;
    else if (key == "vermagic")
      info.vermagic = value;
    else if (key == "srcversion")
      info.srcversion = value;
    else if (key == "license")
      info.license = value;
    else if (key == "retpoline")
      info.retpoline = value;
    else if (key == "intree")
      info.intree = value;
    else if (key == "depends")
      info.depends = split_commas(value);
    else if (key == "parm")
      add_parameter_field(info, value, &ModuleParameter::description);
    else if (key == "parmtype")
      add_parameter_field(info, value, &ModuleParameter::type);
  }
  // The compiler emits a file's .modinfo entries last-declared first; kmod's modinfo undoes
  // that, and so do we, so parameters come in source order.
  std::reverse(info.parameters.begin(), info.parameters.end());
  return info;
}

// The machine an ELF header is for, as `uname -m` names it on that machine.
std::string machine_name(const GElf_Ehdr& header) {
  const bool wide = header.e_ident[EI_CLASS] == ELFCLASS64;
  const bool little = header.e_ident[EI_DATA] == ELFDATA2LSB;
  switch (header.e_machine) {
    case EM_X86_64: return "x86_64";
    case EM_386: return "i686";
    case EM_AARCH64: return "aarch64";
    case EM_ARM: return "armv7l";
    case EM_RISCV: return wide ? "riscv64" : "riscv32";
    case EM_S390: return "s390x";
    case EM_PPC64: return little ? "ppc64le" : "ppc64";
    default: return fmt::format("elf-machine-{}", header.e_machine);
  }
}

ModInfo parse_elf(std::string image, std::string_view what) {
  if (!image.starts_with("\x7f"
                         "ELF")) {
    fail(ErrorKind::usage, "{}: not a kernel module: not an ELF file", what);
  }
  init_libelf();
  std::unique_ptr<Elf, ElfEnd> elf(elf_memory(image.data(), image.size()));
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF) malformed(what, "unreadable ELF header");
  GElf_Ehdr header;
  if (gelf_getehdr(elf.get(), &header) == nullptr) malformed(what, "unreadable ELF header");
  if (header.e_type != ET_REL) {
    fail(ErrorKind::usage, "{}: not a kernel module: ELF type {} is not relocatable", what, header.e_type);
  }
  ModInfo info = parse_entries(modinfo_section(elf.get(), image, what));
  info.machine = machine_name(header);
  return info;
}

}  // namespace

std::optional<std::string> ModInfo::value(std::string_view key) const {
  for (const auto& [k, v] : entries) {
    if (k == key) return v;
  }
  return std::nullopt;
}

std::vector<std::string> ModInfo::values(std::string_view key) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : entries) {
    if (k == key) out.push_back(v);
  }
  return out;
}

ModInfo read_modinfo(std::string_view module, std::string_view what, std::uint64_t limit) {
  return parse_elf(decompress_auto(std::string(module), limit, what), what);
}

ModInfo read_modinfo_file(const std::filesystem::path& file, std::uint64_t limit) {
  const std::string what = file.string();
  return parse_elf(decompress_auto(ckms::read_file(file, limit), limit, what), what);
}

}  // namespace ckms::kmod
