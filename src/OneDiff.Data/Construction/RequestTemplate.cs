using System.Text.RegularExpressions;

namespace OneDiff.Data.Construction;

/// <summary>
/// The words a chat model gets for one candidate pair, with <c>{name}</c> placeholders: for a real
/// pair <c>{caption1}</c> and <c>{caption2}</c>, the two image captions; for a synthetic pair
/// <c>{input}</c>, <c>{output}</c> and <c>{edit}</c>, InstructPix2Pix's original prompt, edited
/// prompt and instruction. A user's own template replaces ours (<c>--request-template FILE</c>);
/// a placeholder the kind does not have is an error naming it.
/// </summary>
public sealed partial class RequestTemplate
{
    /// <summary>The paper's step for real pairs (section 3.2): two captions in, the difference out,
    /// only what the captions support.</summary>
    public static RequestTemplate Real { get; } = new("real",
        "Two similar images are described below.\n" +
        "First image: {caption1}\n" +
        "Second image: {caption2}\n" +
        "In one or two sentences, describe how the second image differs from the first, as someone " +
        "looking at both would. Mention only differences the descriptions support; answer with the description alone.",
        ["caption1", "caption2"]);

    /// <summary>The paper's step for synthetic pairs (section 3.3, the kayak example): the difference
    /// caption also says what the original image held.</summary>
    public static RequestTemplate Synthetic { get; } = new("synthetic",
        "An image was edited by an instruction.\n" +
        "The original image: {input}\n" +
        "The edited image: {output}\n" +
        "The instruction: {edit}\n" +
        "In one or two sentences, describe how the edited image differs from the original, saying what " +
        "the original showed and what changed, as someone looking at both would (for example: \"A kayak " +
        "has been added to the serene lake scene.\"). Answer with the description alone.",
        ["input", "output", "edit"]);

    public string Kind { get; }
    public string Text { get; }
    public IReadOnlyList<string> Placeholders { get; }

    RequestTemplate(string kind, string text, IReadOnlyList<string> placeholders)
    {
        Kind = kind;
        Text = text;
        Placeholders = placeholders;
        var unknown = Names().Matches(text).Select(m => m.Groups[1].Value).Where(n => !placeholders.Contains(n)).Distinct().ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"the {kind} request template has {string.Join(", ", unknown.Select(u => "{" + u + "}"))}; a {kind} pair gives {string.Join(", ", placeholders.Select(p => "{" + p + "}"))}");
    }

    /// <summary>A user's template of the same kind as <paramref name="like"/>, from a text file.</summary>
    public static RequestTemplate Load(string path, RequestTemplate like)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"request template not found: {path}", path);
        string text = File.ReadAllText(path).Trim();
        if (text.Length == 0) throw new InvalidDataException($"{path}: the request template is empty");
        try { return new RequestTemplate(like.Kind, text, like.Placeholders); }
        catch (ArgumentException e) { throw new InvalidDataException($"{path}: {e.Message}"); }
    }

    [GeneratedRegex(@"\{([a-z0-9_]+)\}")]
    private static partial Regex Names();

    public string Fill(IReadOnlyDictionary<string, string> values) =>
        Names().Replace(Text, m => values.TryGetValue(m.Groups[1].Value, out var v) ? v.Trim() : m.Value);
}
