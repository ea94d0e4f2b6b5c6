#pragma once
// A minimal ELF64 relocatable file with a .modinfo section, built byte by byte, so that
// unit tests can corrupt each field of a module-shaped file without a kernel build.

#include <elf.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace ckms::kmod::test {

struct TinyElf {
  std::string bytes;
  std::size_t shoff = 0;           // section header table
  std::size_t modinfo_header = 0;  // offset of .modinfo's Elf64_Shdr
  std::size_t modinfo_offset = 0;  // offset of .modinfo's contents
};

// Sections: [0] null, [1] .modinfo, [2] .shstrtab.
inline TinyElf tiny_elf(std::string_view modinfo, std::uint16_t machine = EM_X86_64) {
  const std::string names("\0.modinfo\0.shstrtab\0", 20);
  TinyElf elf;
  std::string& b = elf.bytes;
  b.resize(sizeof(Elf64_Ehdr));
  elf.modinfo_offset = b.size();
  b.append(modinfo);
  const std::size_t names_offset = b.size();
  b.append(names);
  while (b.size() % 8 != 0) b.push_back('\0');
  elf.shoff = b.size();

  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_REL;
  eh.e_machine = machine;
  eh.e_version = EV_CURRENT;
  eh.e_shoff = elf.shoff;
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_shentsize = sizeof(Elf64_Shdr);
  eh.e_shnum = 3;
  eh.e_shstrndx = 2;
  std::memcpy(b.data(), &eh, sizeof eh);

  Elf64_Shdr sh[3]{};
  sh[1].sh_name = 1;
  sh[1].sh_type = SHT_PROGBITS;
  sh[1].sh_flags = SHF_ALLOC;
  sh[1].sh_offset = elf.modinfo_offset;
  sh[1].sh_size = modinfo.size();
  sh[1].sh_addralign = 1;
  sh[2].sh_name = 10;
  sh[2].sh_type = SHT_STRTAB;
  sh[2].sh_offset = names_offset;
  sh[2].sh_size = names.size();
  sh[2].sh_addralign = 1;
  elf.modinfo_header = b.size() + sizeof(Elf64_Shdr);
  b.append(reinterpret_cast<const char*>(sh), sizeof sh);
  return elf;
}

// Overwrites a field of type T at `offset`.
template <typename T>
void poke(std::string& bytes, std::size_t offset, T value) {
  std::memcpy(bytes.data() + offset, &value, sizeof value);
}

using namespace std::string_view_literals;

// With the padding NULs the kernel leaves between entries.
inline constexpr std::string_view kTinyModinfo =
    "license=GPL\0name=tiny\0vermagic=6.1.0-56-cloud-amd64 SMP preempt mod_unload "
    "modversions \0\0\0depends=crc7,crc-itu-t\0parm=greeting:Word to print\0"
    "parmtype=greeting:charp\0parmtype=repeat:int\0alias=tiny-a\0alias=tiny-b\0"sv;

}  // namespace ckms::kmod::test
