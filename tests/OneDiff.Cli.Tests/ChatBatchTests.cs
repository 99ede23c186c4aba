using System.Text.Json;
using System.Text.Json.Nodes;
using OneDiff.Cli.Commands;
using OneDiff.Data;
using OneDiff.Data.Formats;
using OneDiff.Data.Readers;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Cli.Tests;

/// <summary>The chat-model step between mined candidates and a training file.</summary>
public class ChatBatchTests
{
    /// <summary>Three candidates over images in "images/", written as data mine-pairs writes them.</summary>
    static (string Dir, string Candidates, List<DiffCapCandidate> Pairs) Candidates()
    {
        string dir = TestPaths.NewTempDir("chat");
        Directory.CreateDirectory(Path.Combine(dir, "images"));
        var images = Enumerable.Range(0, 4).Select(i =>
        {
            string path = Path.Combine(dir, "images", $"{i}.png");
            File.WriteAllBytes(path, [1]);
            return new ImageCaption($"{i}", path, $"caption {i}");
        }).ToList();
        var pairs = new List<DiffCapCandidate> { new(images[0], images[1], 0.9), new(images[1], images[2], 0.85), new(images[2], images[3], 0.82) };
        string file = Path.Combine(dir, "candidates.jsonl"); // image paths relative: "images/0.png"
        DiffCapCandidates.Write(file, pairs);
        return (dir, file, pairs);
    }

    static string BatchOutput(string id, string? content, int status = 200, string? error = null) => JsonSerializer.Serialize(new
    {
        id = "batch_req_" + id,
        custom_id = id,
        response = new { status_code = status, request_id = "r", body = new { choices = content is null ? Array.Empty<object>() : [new { index = 0, message = new { role = "assistant", content } }] } },
        error = error is null ? null : new { code = "x", message = error },
    });

    [Fact]
    public void RequestsAreOneChatCompletionPerCandidateInTheBatchFormat()
    {
        var (dir, candidates, pairs) = Candidates();
        string requests = Path.Combine(dir, "requests.jsonl");
        var (code, output, err) = CliRunner.Run(DataCommand.Create(), "chat-requests", "--candidates", candidates, "--model", "Qwen2-72B-Instruct", "--out", requests);
        Assert.True(code == 0, err);
        Assert.Contains("wrote 3 request(s)", output);
        var lines = File.ReadAllLines(requests).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(pairs.Select(p => p.Id), lines.Select(l => l["custom_id"]!.GetValue<string>()));
        Assert.All(lines, l =>
        {
            Assert.Equal("POST", l["method"]!.GetValue<string>());
            Assert.Equal("/v1/chat/completions", l["url"]!.GetValue<string>());
            Assert.Equal("Qwen2-72B-Instruct", l["body"]!["model"]!.GetValue<string>());
        });
        Assert.Equal(DiffCapCandidates.Request("caption 1", "caption 2"), lines[1]["body"]!["messages"]![0]!["content"]!.GetValue<string>());
    }

    [Fact]
    public void AnswersFillTheCandidatesIntoATrainingFile()
    {
        var (dir, candidates, pairs) = Candidates();
        string answers = Path.Combine(dir, "answers.jsonl");
        // The batch output comes back in any order.
        File.WriteAllLines(answers, [BatchOutput(pairs[2].Id, " the third one changed "), BatchOutput(pairs[0].Id, "a dog appeared"), BatchOutput(pairs[1].Id, "the car is gone")]);
        string output = Path.Combine(dir, "train", "diffcap-real.jsonl");
        var (code, stdout, err) = CliRunner.Run(DataCommand.Create(), "fill-captions", "--candidates", candidates, "--answers", answers, "--out", output);
        Assert.True(code == 0, err);
        Assert.Contains("wrote 3 captioned pair(s)", stdout);
        var records = DiffCapJsonl.Read(output);
        Assert.Equal(pairs.Select(p => p.Id), records.Select(r => r.Id));
        Assert.Equal(["a dog appeared", "the car is gone", "the third one changed"], records.Select(r => r.Captions.Single()));
        // The image paths still lead to the images from the new file's folder.
        Assert.Equal(pairs.Select(p => (p.First.Image, p.Second.Image)), records.Select(r => (r.Image1, r.Image2)));
        Assert.All(records, r => Assert.Equal(DiffCapCandidates.Task, r.Task));

        // A completion directly under "response" (no "body") reads too.
        File.WriteAllLines(answers, pairs.Select(p => JsonSerializer.Serialize(new
        {
            custom_id = p.Id, response = new { choices = new[] { new { message = new { role = "assistant", content = "y " + p.Id } } } }, error = (object?)null,
        })));
        var (code1, _, err1) = CliRunner.Run(DataCommand.Create(), "fill-captions", "--candidates", candidates, "--answers", answers, "--out", output);
        Assert.True(code1 == 0, err1);
        Assert.Equal(pairs.Select(p => "y " + p.Id), DiffCapJsonl.Read(output).Select(r => r.Captions.Single()));

        // Plain {"id", "caption"} lines do too.
        File.WriteAllLines(answers, pairs.Select(p => JsonSerializer.Serialize(new { id = p.Id, caption = "x " + p.Id })));
        var (code2, _, err2) = CliRunner.Run(DataCommand.Create(), "fill-captions", "--candidates", candidates, "--answers", answers, "--out", output);
        Assert.True(code2 == 0, err2);
        Assert.Equal(pairs.Select(p => "x " + p.Id), DiffCapJsonl.Read(output).Select(r => r.Captions.Single()));
    }

    [Fact]
    public void FailedMissingAndStrayAnswersAreNamedOrSkippedAndListed()
    {
        var (dir, candidates, pairs) = Candidates();
        string answers = Path.Combine(dir, "answers.jsonl");
        File.WriteAllLines(answers,
        [
            BatchOutput(pairs[0].Id, "a dog appeared"),
            BatchOutput(pairs[1].Id, null, status: 429, error: "rate limited"),
            BatchOutput("9~9", "nobody asked"),
            "{ cut off",
        ]);
        string output = Path.Combine(dir, "out.jsonl");
        var (code, _, err) = CliRunner.Run(DataCommand.Create(), "fill-captions", "--candidates", candidates, "--answers", answers, "--out", output);
        Assert.Equal(1, code);
        Assert.Contains($"answers.jsonl line 2 (id {pairs[1].Id}): the request failed", err);

        var (code2, stdout2, err2) = CliRunner.Run(DataCommand.Create(), "fill-captions", "--candidates", candidates, "--answers", answers, "--out", output, "--skip-bad");
        Assert.True(code2 == 0, err2);
        Assert.Contains("rate limited", err2);
        Assert.Contains("skipped answers.jsonl line 4: not valid JSON", err2);
        Assert.Contains("skipped id 9~9: is answered but is no candidate of candidates.jsonl", err2);
        Assert.Contains($"candidates.jsonl line 2 (id {pairs[1].Id}): has no answer", err2);
        Assert.Contains($"candidates.jsonl line 3 (id {pairs[2].Id}): has no answer", err2);
        Assert.Contains("wrote 1 captioned pair(s)", stdout2);
        Assert.Equal([pairs[0].Id], DiffCapJsonl.Read(output).Select(r => r.Id));
    }
}
