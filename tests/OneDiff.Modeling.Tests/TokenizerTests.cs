using System.Text.Json;
using OneDiff.Modeling.Tokenization;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Modeling.Tests;

[Trait("Category", "HfParity")]
public class TokenizerTests
{
    [Fact]
    public void LlamaTokenizerIdsEqualSentencePieceForEveryString()
    {
        string dir = Path.Combine(TestPaths.HfFixtures, "sentencepiece");
        using var model = File.OpenRead(Path.Combine(dir, "tokenizer.model"));
        var tokenizer = TextTokenizer.FromSentencePiece(model);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        int cases = 0;
        foreach (var c in doc.RootElement.EnumerateArray())
        {
            string text = c.GetProperty("text").GetString()!;
            var want = c.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            var got = tokenizer.Encode(text);
            Assert.True(want.SequenceEqual(got), $"'{text}': got [{string.Join(",", got)}] want [{string.Join(",", want)}]");
            cases++;
        }
        Assert.True(cases > 0);
    }

    [Fact]
    public void TheTinyPresetTokenizerIsThatModelAndRoundTrips()
    {
        var tiny = TextTokenizer.Tiny();
        Assert.Equal(1000, tiny.VocabSize);
        var ids = tiny.Encode("the red car moved to the left");
        Assert.Equal("the red car moved to the left", tiny.Decode(ids));
        Assert.Equal(2, tiny.EosId);
    }

    [Fact]
    public void ByteLevelBpeKeepsSpecialTokensWhole()
    {
        string dir = TestPaths.NewTempDir("bpe");
        // A tiny byte-level vocabulary: single bytes (GPT-2's byte-to-unicode form for space is 'Ġ') and two merges.
        var vocab = new Dictionary<string, int>();
        foreach (var ch in "abcdefghijklmnopqrstuvwxyzĠ") vocab[ch.ToString()] = vocab.Count;
        vocab["ca"] = vocab.Count; vocab["car"] = vocab.Count;
        File.WriteAllText(Path.Combine(dir, "vocab.json"), JsonSerializer.Serialize(vocab));
        File.WriteAllText(Path.Combine(dir, "merges.txt"), "#version: 0.2\nc a\nca r\n");
        var special = new Dictionary<string, int> { ["<|endoftext|>"] = 100, ["<|im_start|>"] = 101, ["<|im_end|>"] = 102 };
        var t = TextTokenizer.FromByteLevelBpe(Path.Combine(dir, "vocab.json"), Path.Combine(dir, "merges.txt"), special);
        var ids = t.Encode("<|im_start|>car<|im_end|>");
        Assert.Equal([101, vocab["car"], 102], ids);
        Assert.Equal(102, t.EosId);
        Assert.Equal("a car", t.Decode(t.Encode("a car")));
    }
}
