using System.ClientModel;
using Microsoft.Extensions.AI;
using OpenAI;
using Xunit;

namespace OneDiff.Serving.Tests;

/// <summary>The server as a Microsoft.Extensions.AI <see cref="IChatClient"/> (its OpenAI adapter).</summary>
[Collection(ServedModelCollection.Name)]
public class ExtensionsAiTests(ServedModel m)
{
    static IChatClient Client(CaptionServer server) =>
        new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(server.Urls[0] + "/v1") })
            .GetChatClient("tiny").AsIChatClient();

    ChatMessage Message(int pair, string prompt) => new(ChatRole.User,
        [new TextContent(prompt), new DataContent(m.Images[pair].A, "image/png"), new DataContent(m.Images[pair].B, "image/png")]);

    [Fact]
    public async Task AnIChatClientGetsThePairsCaption()
    {
        await using var server = await m.StartAsync();
        using var client = Client(server);
        var cancel = TestContext.Current.CancellationToken;
        for (int pair = 4; pair < 6; pair++)
        {
            var response = await client.GetResponseAsync([Message(pair, "")], cancellationToken: cancel);
            Assert.Equal(m.Expected[pair], response.Text);
            Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
            Assert.True(response.Usage!.OutputTokenCount > 0);
        }
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync([Message(6, "")], cancellationToken: cancel)) updates.Add(update);
        Assert.Equal(m.Expected[6], updates.ToChatResponse().Text);
        Assert.True(updates.Count(u => u.Text.Length > 0) > 3);

        var options = new ChatOptions { Temperature = 2.0f, Seed = 21 };
        var sampled = await client.GetResponseAsync([Message(7, "")], options, cancel);
        Assert.Equal(sampled.Text, (await client.GetResponseAsync([Message(7, "")], options, cancel)).Text);
    }
}
