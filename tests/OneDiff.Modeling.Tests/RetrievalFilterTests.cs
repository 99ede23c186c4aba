using OneDiff.Modeling.Retrieval;
using OneDiff.Modeling.Tokenization;
using TorchSharp;
using Xunit;

namespace OneDiff.Modeling.Tests;

/// <summary>The paper's similarity band on embeddings of known similarities, the accept rule, and
/// CLIP's BPE on a vocabulary small enough to check by hand.</summary>
public class RetrievalFilterTests
{
    /// <summary>Pairs (2i, 2i+1) of unit vectors with cosine similarities[i], each pair in its own two
    /// dimensions (pairs are orthogonal to one another: similarity 0 across pairs).</summary>
    internal static torch.Tensor KnownPairs(double[] similarities)
    {
        int n = similarities.Length;
        var data = new float[2 * n * 2 * n];
        for (int i = 0; i < n; i++)
        {
            int a = 2 * i, b = 2 * i + 1, d = 2 * i;
            data[a * 2 * n + d] = 1;
            data[b * 2 * n + d] = (float)similarities[i];
            data[b * 2 * n + d + 1] = (float)Math.Sqrt(1 - similarities[i] * similarities[i]);
        }
        return torch.tensor(data, [2 * n, 2 * n]);
    }

    [Fact]
    public void ThePapersBandKeepsExactlyThePairsFrom075ToBelow094()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        double[] similarities = [0.70, 0.7499, 0.75, 0.80, 0.90, 0.9399, 0.94, 0.97, 1.0];
        using var embeddings = KnownPairs(similarities);
        var pairs = SimilarPairs.Find(embeddings, neighbors: 1, 0.75, 0.94);
        Assert.Equal([(4, 5), (6, 7), (8, 9), (10, 11)], pairs.Select(p => (p.First, p.Second)));
        Assert.Equal([0.75, 0.80, 0.90, 0.9399], pairs.Select(p => Math.Round(p.Similarity, 4)));
    }

    [Fact]
    public void ARefusedPartnerGivesWayToTheNextInTheBand()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        // Row 0's partners by similarity: 1 (0.9), 2 (0.85), 3 (0.8); the rule refuses 1.
        var e = new float[,] { { 1, 0, 0, 0 }, { 0.9f, 0.43589f, 0, 0 }, { 0.85f, 0, 0.52678f, 0 }, { 0.8f, 0, 0, 0.6f } };
        using var embeddings = torch.tensor(e);
        var refused = new List<(int, int)>();
        var pairs = SimilarPairs.Find(embeddings, 1, 0.75, 0.94, accept: p =>
        {
            var (a, b) = (p.First, p.Second);
            bool ok = (Math.Min(a, b), Math.Max(a, b)) != (0, 1);
            if (!ok) { refused.Add((a, b)); Assert.Equal(0.9, p.Similarity, 4); }
            return ok;
        });
        Assert.Contains((0, 2), pairs.Select(p => (p.First, p.Second)));
        Assert.DoesNotContain((0, 1), pairs.Select(p => (p.First, p.Second)));
        Assert.Equal([(0, 1), (1, 0)], refused);
    }

    [Fact]
    public void ClipsBpeMergesByRankAndMarksTheEndOfEachWord()
    {
        var vocab = new Dictionary<string, int> { ["<|startoftext|>"] = 0, ["<|endoftext|>"] = 1 };
        foreach (var c in "abcdefghijklmnopqrstuvwxyz.!") { vocab[c.ToString()] = vocab.Count; vocab[c + "</w>"] = vocab.Count; }
        foreach (var m in new[] { "th", "the</w>", "ca", "cat</w>", "at</w>" }) vocab[m] = vocab.Count;
        // Rank order: "a"+"t</w>" would beat "c"+"a" for "cat"; "ca" comes first only when ranked first.
        var merges = new[] { ("t", "h"), ("th", "e</w>"), ("a", "t</w>"), ("c", "a"), ("ca", "t</w>") };
        var tokenizer = new ClipTokenizer(vocab, merges, maxLength: 8);
        int Id(string s) => vocab[s];
        Assert.Equal([0, Id("the</w>"), Id("c"), Id("at</w>"), 1], tokenizer.Encode("The  CAT"));
        // Punctuation runs are their own pieces; HTML entities are unescaped first.
        Assert.Equal([0, Id("a</w>"), Id("."), Id("!</w>"), 1], tokenizer.Encode("a .!"));
        Assert.Equal([0, Id("a</w>"), Id("!</w>"), 1], tokenizer.Encode("a &#33;"));
        // Cut to the context, the end token kept.
        var longIds = tokenizer.Encode("the the the the the the the the the");
        Assert.Equal(8, longIds.Length);
        Assert.Equal(1, longIds[^1]);
        var other = new ClipTokenizer(vocab, [("c", "a"), ("ca", "t</w>"), ("t", "h"), ("th", "e</w>")], maxLength: 8);
        Assert.Equal([0, Id("cat</w>"), 1], other.Encode("cat"));
    }
}
