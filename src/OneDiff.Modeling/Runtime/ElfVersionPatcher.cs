using System.Buffers.Binary;
using System.Text;

namespace OneDiff.Modeling.Runtime;

/// <summary>
/// Marks a version requirement of an ELF64 shared library as weak (VER_FLG_WEAK in the
/// <c>vna_flags</c> of its Vernaux entry in <c>.gnu.version_r</c>). The dynamic loader then only
/// notes a missing version instead of refusing the library. Used for TorchSharp's
/// <c>libLibTorchSharp.so</c>, which asks for GLIBCXX_3.4.32 for a symbol it never calls
/// (docs/platform.md).
/// </summary>
public static class ElfVersionPatcher
{
    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlagWeak = 0x2;

    /// <summary>Sets the weak flag on every requirement named <paramref name="versionName"/>.
    /// Returns how many entries were changed (0 when none exists or all were weak already).</summary>
    public static int MarkVersionWeak(byte[] elf, string versionName)
    {
        var span = elf.AsSpan();
        if (span.Length < 64 || span[0] != 0x7f || span[1] != (byte)'E' || span[2] != (byte)'L' || span[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (span[4] != 2 || span[5] != 1)
            throw new InvalidDataException("only little-endian ELF64 is supported");

        ulong shoff = BinaryPrimitives.ReadUInt64LittleEndian(span[0x28..]);
        ushort shentsize = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3A..]);
        ushort shnum = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3C..]);
        int changed = 0;
        for (int i = 0; i < shnum; i++)
        {
            var sh = Slice(span, shoff + (ulong)(i * shentsize), 64);
            if (BinaryPrimitives.ReadUInt32LittleEndian(sh[4..]) != ShtGnuVerneed) continue;
            ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(sh[0x18..]);
            uint link = BinaryPrimitives.ReadUInt32LittleEndian(sh[0x28..]);
            uint entries = BinaryPrimitives.ReadUInt32LittleEndian(sh[0x2C..]); // sh_info: number of Verneed entries
            var strtabHeader = Slice(span, shoff + (ulong)(link * shentsize), 64);
            ulong strtab = BinaryPrimitives.ReadUInt64LittleEndian(strtabHeader[0x18..]);

            ulong need = offset;
            for (uint n = 0; n < entries; n++)
            {
                var vn = Slice(span, need, 16);
                ushort count = BinaryPrimitives.ReadUInt16LittleEndian(vn[2..]);
                ulong aux = need + BinaryPrimitives.ReadUInt32LittleEndian(vn[8..]);
                for (int a = 0; a < count; a++)
                {
                    var vna = Slice(span, aux, 16);
                    string name = ReadString(span, strtab + BinaryPrimitives.ReadUInt32LittleEndian(vna[8..]));
                    ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(vna[4..]);
                    if (name == versionName && (flags & VerFlagWeak) == 0)
                    {
                        BinaryPrimitives.WriteUInt16LittleEndian(vna[4..], (ushort)(flags | VerFlagWeak));
                        changed++;
                    }
                    uint next = BinaryPrimitives.ReadUInt32LittleEndian(vna[12..]);
                    if (next == 0) break;
                    aux += next;
                }
                uint nextNeed = BinaryPrimitives.ReadUInt32LittleEndian(vn[12..]);
                if (nextNeed == 0) break;
                need += nextNeed;
            }
        }
        return changed;
    }

    /// <summary>True when the library's version-definition section defines <paramref name="versionName"/>
    /// (used to ask whether the system libstdc++ provides GLIBCXX_3.4.32).</summary>
    public static bool DefinesVersion(byte[] elf, string versionName)
    {
        // Version definitions are ordinary strings of .dynstr; a byte search is enough and robust.
        var needle = Encoding.ASCII.GetBytes(versionName + "\0");
        var span = elf.AsSpan();
        int at;
        while ((at = span.IndexOf(needle)) >= 0)
        {
            if (at == 0 || elf[elf.Length - span.Length + at - 1] == 0) return true;
            span = span[(at + 1)..];
        }
        return false;
    }

    static Span<byte> Slice(Span<byte> s, ulong offset, int length)
    {
        if (offset + (ulong)length > (ulong)s.Length) throw new InvalidDataException("ELF structure points past the end of the file");
        return s.Slice((int)offset, length);
    }

    static string ReadString(Span<byte> s, ulong offset)
    {
        if (offset >= (ulong)s.Length) throw new InvalidDataException("ELF string offset past the end of the file");
        var rest = s[(int)offset..];
        int end = rest.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? rest : rest[..end]);
    }
}
