using System.Text.Json;
using OneDiff.Data.Construction;
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
    public const string SyntheticTask = "diffcap-synthetic";

    /// <summary>The prompt of the pairs in training (the generic difference prompt).</summary>
    public static string Prompt => TaskPrompts.For(Task);

    /// <summary>Our wording of the paper's step that has a chat model turn two image captions
    /// into the difference caption of the pair.</summary>
    public static string Request(string firstCaption, string secondCaption) =>
        RequestTemplate.Real.Fill(new Dictionary<string, string> { ["caption1"] = firstCaption, ["caption2"] = secondCaption });

    /// <summary>Real pairs (CLIP retrieval); <paramref name="template"/>: the request's wording
    /// (null: <see cref="RequestTemplate.Real"/>).</summary>
    public static void Write(string path, IEnumerable<DiffCapCandidate> candidates, RequestTemplate? template = null)
    {
        template ??= RequestTemplate.Real;
        Lines(path, candidates.Select(c => (c.Id, c.First.Image, c.Second.Image, Task, "clip-retrieval", (Action<Utf8JsonWriter>)(w =>
        {
            w.WriteNumber("similarity", Math.Round(c.Similarity, 6));
            w.WriteString("caption1", c.First.Caption);
            w.WriteString("caption2", c.Second.Caption);
            w.WriteString("request", template.Fill(new Dictionary<string, string> { ["caption1"] = c.First.Caption, ["caption2"] = c.Second.Caption }));
        }))));
    }

    /// <summary>Synthetic pairs (InstructPix2Pix), their request from the three prompts
    /// (<see cref="RequestTemplate.Synthetic"/> unless given); task and source <see cref="SyntheticTask"/>.</summary>
    public static void WriteEdits(string path, IEnumerable<EditPair> pairs, RequestTemplate? template = null)
    {
        template ??= RequestTemplate.Synthetic;
        Lines(path, pairs.Select(p => (p.Id, p.Image1, p.Image2, SyntheticTask, SyntheticTask, (Action<Utf8JsonWriter>)(w =>
        {
            w.WriteString("input", p.Input);
            w.WriteString("output", p.Output);
            w.WriteString("edit", p.Edit);
            w.WriteString("request", template.Fill(new Dictionary<string, string> { ["input"] = p.Input, ["output"] = p.Output, ["edit"] = p.Edit }));
        }))));
    }

    static void Lines(string path, IEnumerable<(string Id, string Image1, string Image2, string Task, string Source, Action<Utf8JsonWriter> Extra)> lines)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(folder);
        using var stream = File.Create(path);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        foreach (var (id, image1, image2, task, source, extra) in lines)
        {
            w.Reset(stream);
            w.WriteStartObject();
            w.WriteString("id", id);
            w.WriteString("image1", DiffCapJsonl.Relative(folder, image1));
            w.WriteString("image2", DiffCapJsonl.Relative(folder, image2));
            w.WriteString("prompt", TaskPrompts.For(task));
            w.WriteStartArray("captions");
            w.WriteEndArray();
            w.WriteString("task", task);
            w.WriteString("source", source);
            extra(w);
            w.WriteEndObject();
            w.Flush();
            stream.WriteByte((byte)'\n');
        }
    }
}
