using System.IO.Compression;
using OneDiff.Modeling.Tokenization;

namespace OneDiff.MLNet;

/// <summary>A tokenizer's files packed into one byte array (stored in the saved model).</summary>
internal static class TokenizerArchive
{
    static readonly string[] Files = ["tokenizer.model", "vocab.json", "merges.txt", "tokenizer.json"];

    public static byte[] Pack(string folder)
    {
        using var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var f in Files)
            {
                string path = Path.Combine(folder, f);
                if (File.Exists(path)) zip.CreateEntryFromFile(path, f);
            }
        return ms.ToArray();
    }

    public static TextTokenizer Read(byte[] archive)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"onediff-tok-{Guid.NewGuid():N}");
        try
        {
            using (var ms = new MemoryStream(archive))
            using (var zip = new ZipArchive(ms, ZipArchiveMode.Read))
                zip.ExtractToDirectory(dir);
            return TextTokenizer.FromFolder(dir);
        }
        catch (InvalidDataException e) { throw new InvalidDataException($"OneDiff model: the stored tokenizer is unreadable ({e.Message})"); }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
    }
}
