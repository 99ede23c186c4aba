using System.Text.Json;
using OneDiff.Data.Readers;

namespace OneDiff.Data.Formats;

/// <summary>A pair of captioned images found by retrieval, still without its difference caption.</summary>
public sealed record DiffCapCandidate(ImageCaption First, ImageCaption Second, double Similarity)
{
    public string Id => $"{First.Id}~{Second.Id}";
}

/// <summary>
/// Candidate pairs as DiffCap JSON lines with empty <c>captions</c>, plus what a chat model needs to
/// write them: <c>caption1</c>, <c>caption2</c>, <c>similarity</c> and a ready <c>request</c>. Once a
/// chat model has filled <c>captions</c>, the file is a DiffCap training file as it is (the reader
/// ignores the extra fields, and names every line still without captions).
/// </summary>
public static class DiffCapCandidates
{
    public const string Task = "diffcap-real";

    /// <summary>The prompt of the pairs in training (the generic difference prompt).</summary>
    public static string Prompt => TaskPrompts.For(Task);

    /// <summary>Our wording of the paper's step that has a chat model turn two image captions
    /// into the difference caption of the pair.</summary>
    public static string Request(string firstCaption, string secondCaption) =>
        "Two similar images are described below.\n" +
        $"First image: {firstCaption.Trim()}\n" +
        $"Second image: {secondCaption.Trim()}\n" +
        "In one or two sentences, describe how the second image differs from the first, as someone " +
        "looking at both would. Mention only differences the descriptions support; answer with the description alone.";

    public static void Write(string path, IEnumerable<DiffCapCandidate> candidates)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(folder);
        using var stream = File.Create(path);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        foreach (var c in candidates)
        {
            w.Reset(stream);
            w.WriteStartObject();
            w.WriteString("id", c.Id);
            w.WriteString("image1", DiffCapJsonl.Relative(folder, c.First.Image));
            w.WriteString("image2", DiffCapJsonl.Relative(folder, c.Second.Image));
            w.WriteString("prompt", Prompt);
            w.WriteStartArray("captions");
            w.WriteEndArray();
            w.WriteString("task", Task);
            w.WriteString("source", "clip-retrieval");
            w.WriteNumber("similarity", Math.Round(c.Similarity, 6));
            w.WriteString("caption1", c.First.Caption);
            w.WriteString("caption2", c.Second.Caption);
            w.WriteString("request", Request(c.First.Caption, c.Second.Caption));
            w.WriteEndObject();
            w.Flush();
            stream.WriteByte((byte)'\n');
        }
    }
}
