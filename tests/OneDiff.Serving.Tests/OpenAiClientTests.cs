using System.ClientModel;
using System.Text;
using OneDiff.MLNet;
using OpenAI;
using OpenAI.Chat;
using Xunit;

namespace OneDiff.Serving.Tests;

/// <summary>The server through the official OpenAI .NET package, as an application would call it.</summary>
[Collection(ServedModelCollection.Name)]
public class OpenAiClientTests(ServedModel m)
{
    static ChatClient Client(CaptionServer server) =>
        new("tiny", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(server.Urls[0] + "/v1") });

    UserChatMessage Message(int pair, string prompt) => new(
        ChatMessageContentPart.CreateTextPart(prompt),
        ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(m.Images[pair].A), "image/png"),
        ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(m.Images[pair].B), "image/png"));

    [Fact]
    public async Task TheCaptionIsThePredictionEnginesForThePairAndPrompt()
    {
        await using var server = await m.StartAsync();
        var client = Client(server);
        foreach (var (pair, prompt) in new[] { (0, ""), (3, ""), (5, "What is different?") })
        {
            ChatCompletion answer = await client.CompleteChatAsync([Message(pair, prompt)], cancellationToken: TestContext.Current.CancellationToken);
            Assert.Equal(m.Caption(pair, prompt), answer.Content[0].Text);
            Assert.Equal(ChatFinishReason.Stop, answer.FinishReason);
            Assert.Equal(ChatMessageRole.Assistant, answer.Role);
            Assert.Equal("tiny", answer.Model);
            // The real counts: the caption's tokens and its end; the prompt with the visual tokens.
            Assert.InRange(answer.Usage.OutputTokenCount, answer.Content[0].Text.Split(' ').Length, 40);
            Assert.True(answer.Usage.InputTokenCount > 10);
            Assert.Equal(answer.Usage.InputTokenCount + answer.Usage.OutputTokenCount, answer.Usage.TotalTokenCount);
        }
    }

    [Fact]
    public async Task StreamedPiecesJoinToTheCaption()
    {
        await using var server = await m.StartAsync();
        var client = Client(server);
        for (int pair = 0; pair < 3; pair++)
        {
            var pieces = new List<string>();
            ChatFinishReason? finish = null;
            await foreach (var update in client.CompleteChatStreamingAsync([Message(pair, "")], cancellationToken: TestContext.Current.CancellationToken))
            {
                pieces.AddRange(update.ContentUpdate.Select(p => p.Text).Where(t => t.Length > 0));
                finish ??= update.FinishReason;
            }
            Assert.True(pieces.Count > 3, $"{pieces.Count} piece(s): not streamed token by token");
            Assert.Equal(m.Expected[pair], string.Concat(pieces));
            Assert.Equal(ChatFinishReason.Stop, finish);
        }
    }

    [Fact]
    public async Task SamplingIsReproducibleForOneSeed()
    {
        await using var server = await m.StartAsync();
        var client = Client(server);
#pragma warning disable OPENAI001 // Seed is marked experimental in the client.
        async Task<string> Sample(long seed) => (await client.CompleteChatAsync([Message(1, "")],
            new ChatCompletionOptions { Temperature = 2.0f, Seed = seed }, TestContext.Current.CancellationToken)).Value.Content[0].Text;
#pragma warning restore OPENAI001
        string first = await Sample(7);
        Assert.Equal(first, await Sample(7));
        // At temperature 2 the overfit model's distribution is flattened: seeds give other captions.
        var others = new List<string>();
        foreach (long seed in new long[] { 8, 9, 10, 11 }) others.Add(await Sample(seed));
        Assert.Contains(others.Append(first), c => c != m.Expected[1]);
        Assert.True(others.Append(first).Distinct().Count() > 1, "five seeds gave one caption");
    }

    [Fact]
    public async Task MaxTokensAndStopAreHonoured()
    {
        await using var server = await m.StartAsync();
        var client = Client(server);
        var cancel = TestContext.Current.CancellationToken;
        ChatCompletion shortAnswer = await client.CompleteChatAsync([Message(2, "")], new ChatCompletionOptions { MaxOutputTokenCount = 3 }, cancel);
        Assert.Equal(ChatFinishReason.Length, shortAnswer.FinishReason);
        Assert.Equal(3, shortAnswer.Usage.OutputTokenCount);
        Assert.StartsWith(shortAnswer.Content[0].Text, m.Expected[2]);

        // A stop string: the caption ends before it, in the plain and the streamed answer alike.
        string full = m.Expected[2];
        string stop = full.Split(' ')[2];
        string before = full[..full.IndexOf(stop, StringComparison.Ordinal)].TrimEnd();
        var options = new ChatCompletionOptions();
        options.StopSequences.Add(stop);
        ChatCompletion stopped = await client.CompleteChatAsync([Message(2, "")], options, cancel);
        Assert.Equal(before, stopped.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
        var streamed = new StringBuilder();
        await foreach (var update in client.CompleteChatStreamingAsync([Message(2, "")], options, cancel))
            foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
        Assert.Equal(before, streamed.ToString());
    }

    [Fact]
    public async Task ModelsListsTheServedModel()
    {
        await using var server = await m.StartAsync();
        var models = new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(server.Urls[0] + "/v1") }).GetOpenAIModelClient();
        var list = (await models.GetModelsAsync(TestContext.Current.CancellationToken)).Value;
        Assert.Equal("tiny", Assert.Single(list).Id);
    }
}

/// <summary>The extension field <c>num_beams</c>: the caption a beam-search transformer gives.</summary>
[Collection(ServedModelCollection.Name)]
public class BeamSearchTests(ServedModel m)
{
    [Fact]
    public async Task NumBeamsGivesTheBeamSearchCaption()
    {
        await using var server = await m.StartAsync();
        using var beams = new Microsoft.ML.MLContext().DiffCaptioning().LoadTransformer(m.ModelFile, new CaptioningOverrides { NumBeams = 3 });
        using var http = new HttpClient();
        var cancel = TestContext.Current.CancellationToken;
        // Two beam requests share a batch; a greedy one queued with them runs in its own.
        server.Batcher.Pause();
        var sent = new[] { 3, 6 }.Select(pair =>
            ServedModel.PostAsync(http, server.Urls[0], m.Body(pair, extra: b => b["num_beams"] = 3).ToJsonString(), cancel: cancel))
            .Append(ServedModel.PostAsync(http, server.Urls[0], m.Body(1).ToJsonString(), cancel: cancel)).ToList();
        await LoadTests.Until(() => server.Batcher.Waiting == 3, "three requests queued");
        server.Batcher.Resume();
        var answers = await Task.WhenAll(sent);
        Assert.Equal(beams.Caption(m.Trained.Pairs[3].A, m.Trained.Pairs[3].B), ServedModel.Content(answers[0].Json));
        Assert.Equal(beams.Caption(m.Trained.Pairs[6].A, m.Trained.Pairs[6].B), ServedModel.Content(answers[1].Json));
        Assert.Equal(m.Expected[1], ServedModel.Content(answers[2].Json));
        string metrics = await http.GetStringAsync(server.Urls[0] + "/metrics", cancel);
        Assert.Equal(2, LoadTests.Metric(metrics, "onediff_batch_size_count"));
        Assert.Equal(1, LoadTests.Metric(metrics, "onediff_batch_size_bucket{le=\"1\"}"));
        var (status, json, _) = await ServedModel.PostAsync(http, server.Urls[0], m.Body(0, extra: b => { b["num_beams"] = 2; b["temperature"] = 0.5; }).ToJsonString(), cancel: cancel);
        Assert.Equal(400, status);
        Assert.Equal("num_beams", json!["error"]!["param"]!.GetValue<string>());
    }
}
