using System.Text.RegularExpressions;

namespace OneDiff.Data.Construction;

/// <summary>
/// How much two image captions say the same: the Jaccard index of their content words (lower
/// case, letters and digits, a short list of English function words left out). The paper drops
/// retrieved pairs "whose textual information is highly similar", since a chat model that reads
/// only the two captions can then describe no difference. We use word overlap rather than CLIP
/// text embeddings: it needs no model, it is what a reader would call "the same caption", and
/// it does not call a dog and a cat on the same couch near-identical (CLIP text embeddings of
/// such captions are close).
/// </summary>
public static partial class CaptionOverlap
{
    /// <summary>Pairs at or above it are dropped. With the captions of COCO and BLIP-2 (about 10
    /// words, 4 to 6 content words), 0.75 drops a repeat that adds or loses one word ("a man
    /// riding a wave on top of a surfboard" / "a man riding a wave on a surfboard": 0.80) and keeps
    /// one content word changed ("a dog sitting on a couch" / "a cat sitting on a couch": 0.50).</summary>
    public const double DefaultMax = 0.75;

    static readonly HashSet<string> FunctionWords = new(StringComparer.Ordinal)
    {
        "a", "an", "the", "of", "on", "in", "at", "to", "with", "and", "or", "is", "are", "was", "were", "be", "been", "being",
        "it", "its", "this", "that", "these", "those", "there", "some", "by", "for", "from", "as", "into", "onto", "near", "next",
        "while", "who", "which", "has", "have", "his", "her", "their", "they", "he", "she", "image", "picture", "photo", "shows", "showing",
    };

    [GeneratedRegex(@"[\p{L}\p{N}]+")]
    private static partial Regex Word();

    /// <summary>The content words of a caption.</summary>
    public static HashSet<string> Words(string caption) =>
        Word().Matches(caption.ToLowerInvariant()).Select(m => m.Value).Where(w => !FunctionWords.Contains(w)).ToHashSet(StringComparer.Ordinal);

    /// <summary>|A ∩ B| / |A ∪ B| of the two captions' content words; 1 when both have none.</summary>
    public static double Of(string first, string second) => Of(Words(first), Words(second));

    public static double Of(IReadOnlySet<string> first, IReadOnlySet<string> second)
    {
        if (first.Count == 0 && second.Count == 0) return 1;
        int common = first.Count(second.Contains);
        return common / (double)(first.Count + second.Count - common);
    }
}
