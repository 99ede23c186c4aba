using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML;
using OneDiff.Cli.Tests;
using OneDiff.MLNet;
using Xunit;

namespace OneDiff.Serving.Tests;

/// <summary>
/// The overfit Tiny model (8 procedural pairs, trained once), saved; each pair's image bytes and
/// the caption a PredictionEngine over the saved model gives it: what every server answer must equal.
/// </summary>
public sealed class ServedModel : IDisposable
{
    public OverfitFixture Trained { get; } = new();
    public string ModelFile => Trained.ModelFile;
    public IReadOnlyList<(byte[] A, byte[] B)> Images { get; }
    public IReadOnlyList<string> Expected { get; }
    readonly PredictionEngine<Row, Row> _engine;
    readonly ITransformer _loaded;

    public sealed class Row
    {
        public string Image1 { get; set; } = "";
        public string Image2 { get; set; } = "";
        public string Prompt { get; set; } = "";
        public string PredictedCaption { get; set; } = "";
    }

    public ServedModel()
    {
        Images = Trained.Pairs.Select(p => (File.ReadAllBytes(p.A), File.ReadAllBytes(p.B))).ToList();
        _loaded = Trained.Ml.Model.Load(ModelFile, out _);
        _engine = Trained.Ml.Model.CreatePredictionEngine<Row, Row>(_loaded);
        Expected = Enumerable.Range(0, Images.Count).Select(i => Caption(i, "")).ToList();
        // The load test tells answers apart by their captions: the pairs' captions must differ.
        Assert.Equal(Expected.Count, Expected.Distinct().Count());
    }

    /// <summary>What a PredictionEngine gives pair <paramref name="pair"/> with this prompt (empty: the model's).</summary>
    public string Caption(int pair, string prompt)
    {
        lock (_engine)
            return _engine.Predict(new Row { Image1 = Trained.Pairs[pair].A, Image2 = Trained.Pairs[pair].B, Prompt = prompt }).PredictedCaption;
    }

    /// <summary>A server on a free loopback port, its model loaded.</summary>
    public async Task<CaptionServer> StartAsync(ServingOptions? options = null)
    {
        var server = await CaptionServer.StartAsync(() => new MLContext().DiffCaptioning().LoadTransformer(ModelFile),
            (options ?? new ServingOptions()) with { Urls = "http://127.0.0.1:0", ModelName = "tiny" });
        await server.Ready;
        return server;
    }

    public static string DataUrl(byte[] png) => "data:image/png;base64," + Convert.ToBase64String(png);

    /// <summary>A chat completion body for pair <paramref name="pair"/>; <paramref name="extra"/> adds or replaces fields.</summary>
    public JsonObject Body(int pair, string prompt = "", Action<JsonObject>? extra = null) =>
        Body(Images[pair].A, Images[pair].B, prompt, extra);

    public static JsonObject Body(byte[] a, byte[] b, string prompt = "", Action<JsonObject>? extra = null)
    {
        var body = new JsonObject
        {
            ["model"] = "tiny",
            ["messages"] = new JsonArray(new JsonObject
            {
                ["role"] = "user",
                ["content"] = new JsonArray(
                    new JsonObject { ["type"] = "text", ["text"] = prompt },
                    new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = DataUrl(a) } },
                    new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = DataUrl(b) } }),
            }),
        };
        extra?.Invoke(body);
        return body;
    }

    public static async Task<(int Status, JsonNode? Json, HttpResponseMessage Response)> PostAsync(HttpClient http, string url, string body, string? key = null, CancellationToken cancel = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url + "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        var response = await http.SendAsync(request, cancel);
        string text = await response.Content.ReadAsStringAsync(cancel);
        JsonNode? json;
        try { json = JsonNode.Parse(text); }
        catch (JsonException) { throw new Xunit.Sdk.XunitException($"{(int)response.StatusCode}: not JSON: {text}"); }
        return ((int)response.StatusCode, json, response);
    }

    public static string Content(JsonNode? json) => json!["choices"]![0]!["message"]!["content"]!.GetValue<string>();

    public void Dispose() => (_loaded as IDisposable)?.Dispose();
}

[CollectionDefinition(Name)]
public sealed class ServedModelCollection : ICollectionFixture<ServedModel>
{
    public const string Name = "served overfit Tiny model";
}
